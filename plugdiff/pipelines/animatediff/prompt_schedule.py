"""Prompt schedules for multi-prompt videos: which prompt holds from which frame on.

Accepted forms (:meth:`PromptSchedule.parse`):

* diffusers' FreeNoise dict, ``{0: "a red fox running", 48: "a red fox sleeping"}``; keys are
  ints or numeric strings (``"48"``, as JSON job files give them);
* prompt-travel text, one ``frame: prompt`` line per key frame (blank lines and ``#`` comments
  ignored)::

      0: a red fox running in a snowy forest
      48: a red fox sleeping in a snowy forest

* structured key frames, a dict of slots (:data:`~plugdiff.pipelines.animatediff.prompt_slots.SLOTS`) as a
  dict value, e.g. ``{0: {"subject": "a red fox", "action": "running"}}``, or ``"|"`` between
  slots in a string.

A head / tail text is added before / after every prompt. Key frames must start at 0, be
strictly increasing and lie in [0, num_frames).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .prompt_slots import SLOTS, Rewriter, structure_prompt

_TRAVEL_LINE = re.compile(r"^\s*(\d+)\s*:(.*)$")


@dataclass(frozen=True)
class KeyFrame:
    """One prompt of a schedule: the frame it is fully reached at, its full text (head and tail
    included) and its slots (every key of ``SLOTS``, head / tail not included)."""

    frame: int
    text: str
    slots: dict


@dataclass(frozen=True)
class PromptSchedule:
    """Key-framed prompts of one video, with a head and tail shared by all of them.

    Build it with :meth:`parse`; the pipeline accepts any form :meth:`parse` takes wherever it
    takes a prompt.
    """

    keyframes: tuple[KeyFrame, ...]
    head: str = ""
    tail: str = ""

    @classmethod
    def parse(cls, prompt, *, head: str = "", tail: str = "", rewriter: Rewriter | None = None) -> PromptSchedule:
        """Parse a dict or prompt-travel text (see the module docstring) into a schedule.

        Args:
            prompt: ``{frame: prompt_or_slots}``, prompt-travel text, or a ``PromptSchedule``
                (returned as is when no head, tail or rewriter is given).
            head, tail: text added before / after every prompt (e.g. a style or quality tag).
            rewriter: optional ``rewriter(text) -> dict | "a | b | ..."`` that structures free
                text into slots instead of the built-in rules.
        """
        if isinstance(prompt, PromptSchedule):
            if head or tail or rewriter:
                raise ValueError(
                    "pass head / tail / rewriter when building a PromptSchedule, not with an existing one."
                )
            return prompt
        for name, value in (("head", head), ("tail", tail)):
            if not isinstance(value, str):
                raise TypeError(f"`{name}` must be a string, got {type(value).__name__}.")
        if isinstance(prompt, str):
            items = _travel_items(prompt)
        elif isinstance(prompt, Mapping):
            items = [(_frame_key(key), value) for key, value in prompt.items()]
        else:
            raise TypeError(
                f"a prompt schedule must be a dict {{frame: prompt}} or prompt-travel text, got "
                f"{type(prompt).__name__}."
            )
        if not items:
            raise ValueError("the prompt schedule is empty: give at least {0: prompt}.")
        frames = [frame for frame, _ in items]
        duplicates = sorted({f for f in frames if frames.count(f) > 1})
        if duplicates:
            raise ValueError(f"prompt schedule: key frame(s) {duplicates} given more than once.")
        if frames != sorted(frames):
            raise ValueError(f"prompt schedule: key frames must be in increasing order, got {frames}.")
        if frames[0] != 0:
            raise ValueError(
                f"prompt schedule: the first key frame must be 0 (a prompt for the start), got {frames[0]}."
            )
        head, tail = " ".join(head.split()), " ".join(tail.split())
        keyframes = []
        for frame, value in items:
            slots = structure_prompt(value, rewriter, where=f"prompt at frame {frame}")
            body = value if isinstance(value, str) and "|" not in value else " ".join(t for t in slots.values() if t)
            text = " ".join(t for t in (head, " ".join(body.split()), tail) if t)
            keyframes.append(KeyFrame(frame, text, slots))
        return cls(tuple(keyframes), head, tail)

    @property
    def frames(self) -> list[int]:
        """The key frames' indices, in order."""
        return [k.frame for k in self.keyframes]

    @property
    def texts(self) -> list[str]:
        """Full prompt texts (head + prompt + tail), one per key frame."""
        return [k.text for k in self.keyframes]

    def slot_texts(self) -> list[list[str]]:
        """Per key frame, the texts of ("head", *SLOTS, "tail") in order."""
        return [[self.head, *(k.slots[name] for name in SLOTS), self.tail] for k in self.keyframes]

    def check_frames(self, num_frames: int) -> None:
        """Raise if a key frame lies outside [0, num_frames)."""
        outside = [f for f in self.frames if not 0 <= f < num_frames]
        if outside:
            raise ValueError(f"prompt schedule: key frame(s) {outside} lie outside [0, num_frames={num_frames}).")


def is_schedule(prompt) -> bool:
    """Whether ``prompt`` is a schedule (dict, PromptSchedule or prompt-travel text) rather than
    one prompt or a list of prompts. Text is prompt-travel text when its first non-blank,
    non-comment line starts with ``<digits>:``."""
    if isinstance(prompt, (Mapping, PromptSchedule)):
        return True
    if isinstance(prompt, str):
        lines = [line for line in prompt.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        return bool(lines) and _TRAVEL_LINE.match(lines[0]) is not None
    return False


def read_schedule_file(path) -> dict | str:
    """The schedule in the file at ``path``: a JSON object file (first character ``{``) as a dict,
    anything else as prompt-travel text; pass either to :meth:`PromptSchedule.parse` or as the
    pipeline's prompt. Raises ``ValueError`` naming the file when it is missing, unreadable, not
    valid JSON, or not a schedule."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"could not read the schedule file {path}: {err}") from None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"schedule file {path} is not valid JSON: {err}") from None
    if not is_schedule(text):
        raise ValueError(f"schedule file {path} holds no '<frame>: <prompt>' lines (or a JSON object).")
    return text


def _travel_items(text: str) -> list[tuple[int, str]]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _TRAVEL_LINE.match(line)
        if match is None:
            raise ValueError(f"prompt-travel line {number} must look like '<frame>: <prompt>', got {line.strip()!r}.")
        items.append((int(match.group(1)), match.group(2).strip()))
    return items


def _frame_key(key) -> int:
    if isinstance(key, bool):
        raise TypeError(f"prompt schedule keys must be frame numbers (int or numeric string), got {key!r}.")
    if isinstance(key, int):
        return key
    if isinstance(key, str) and re.fullmatch(r"\s*-?\d+\s*", key):
        return int(key)
    raise TypeError(f"prompt schedule keys must be frame numbers (int or numeric string), got {key!r}.")
