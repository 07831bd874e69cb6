"""Input errors in the web UI: shown in red under the input they concern, kept until that input
changes. An error finds its input by its ``field`` (the setting it concerns, see
:class:`~plugdiff.apps.demo_actions.DemoInputError`), never by its wording; an error with no
field, or with a field no input of the tab shows, goes under the tab's button."""

from __future__ import annotations

CSS = ".input-error, .input-error * {color: var(--error-text-color, #b91c1c) !important;}"


class InputMessages:
    """Error messages under the inputs they concern (one tab). :meth:`under` places a hidden
    message where it is called (below an input) for errors about some fields, :meth:`others` the
    one for every other error (below the tab's button); each hides again when one of its inputs
    changes. :meth:`show` returns the updates that show an error in its field's message."""

    def __init__(self):
        self.boxes, self.fields, self.accordions, self.opened_by = [], {}, [], {}
        self.fallback = None

    @property
    def outputs(self) -> list:
        """The components :meth:`show` updates: every message, then the accordions holding some."""
        return self.boxes + self.accordions

    def under(self, inputs: list, *fields: str, accordion=None):
        """A hidden message here for errors about ``fields``, cleared when one of ``inputs``
        changes; ``accordion``: the (possibly closed) accordion it sits in, opened to show it."""
        import gradio as gr

        box = gr.Markdown(visible=False, elem_classes=["input-error"])
        self.boxes.append(box)
        self.fields.update({field: box for field in fields})
        if accordion is not None:
            self.opened_by[id(box)] = accordion
            self.accordions += [] if any(a is accordion for a in self.accordions) else [accordion]
        self.clear_on(box, inputs)
        return box

    def others(self, inputs: list):
        """The message here for errors no :meth:`under` message takes, cleared when one of
        ``inputs`` changes."""
        self.fallback = self.under(inputs)
        return self.fallback

    @staticmethod
    def clear_on(box, inputs: list) -> None:
        """Hide ``box`` when one of ``inputs`` changes."""
        import gradio as gr

        for source in inputs:
            source.change(
                lambda: gr.update(value="", visible=False),
                None,
                box,
                queue=False,
                show_progress="hidden",
                api_visibility="private",
            )

    def show(self, error) -> list:
        """Updates for :attr:`outputs`: ``error`` (a
        :class:`~plugdiff.apps.demo_actions.DemoInputError`; None: nothing changes) shown in the
        message of its ``field``, else in the :meth:`others` message."""
        import gradio as gr

        target = None if error is None else self.fields.get(error.field, self.fallback)
        shown = [gr.update(value=f"⚠ {error}", visible=True) if box is target else gr.update() for box in self.boxes]
        return shown + [
            gr.update(open=True) if self.opened_by.get(id(target)) is a else gr.update() for a in self.accordions
        ]
