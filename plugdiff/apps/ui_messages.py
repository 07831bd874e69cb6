"""Input errors in the web UI: shown in red under the input they concern, kept until that input
changes. A message names its field first (``frames: must be ...``), which picks the input."""

from __future__ import annotations

CSS = ".input-error, .input-error * {color: var(--error-text-color, #b91c1c) !important;}"


def input_of(message: str, fields) -> str | None:
    """Which of ``fields`` an error message concerns: messages start with ``field: ...``, or with
    a field and detail (``prompt schedule row 2: ...``); None when no field matches."""
    head = message.partition(": ")[0].lower() if ": " in message else ""
    matches = [f for f in fields if head == f.lower() or head.startswith(f.lower() + " ")]
    return max(matches, key=len, default=None)


class InputMessages:
    """Error messages under the inputs they concern (one tab). :meth:`under` places a hidden
    message where it is called (below an input) and hides it again when any of its inputs
    changes; :meth:`show` returns the updates that show a message under its input, or in the
    tab's last message (under its button) when no field matches."""

    def __init__(self):
        self.boxes, self.fields, self.accordions, self.opened_by = [], {}, [], {}

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

    @staticmethod
    def clear_on(box, inputs: list) -> None:
        """Hide ``box`` when one of ``inputs`` changes."""
        import gradio as gr

        for source in inputs:
            source.change(lambda: gr.update(value="", visible=False), None, box, queue=False, show_progress="hidden",
                          api_visibility="private")

    def show(self, message: str | None) -> list:
        """Updates for :attr:`outputs`: ``message`` shown (None: nothing changes)."""
        import gradio as gr

        target = None if message is None else self.fields.get(input_of(message, self.fields), self.boxes[-1])
        shown = [gr.update(value=f"⚠ {message}", visible=True) if box is target else gr.update() for box in self.boxes]
        return shown + [gr.update(open=True) if self.opened_by.get(id(target)) is a else gr.update() for a in self.accordions]
