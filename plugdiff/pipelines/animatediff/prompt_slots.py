"""Structure a prompt into PromptBlend's slots: subject, action, time, place, style.

PromptBlend (Li et al., arXiv 2412.17254; our reading of a secondary summary of it) writes
every prompt of a multi-prompt video in the same slots, so that after slot-wise token alignment
position j of every prompt's embedding means the same thing. The paper has an LLM do the
rewriting; here it is offline and deterministic:

* a dict of slots, ``{"subject": "a red fox", "action": "running", ...}``;
* one string with ``"|"`` between slots, in :data:`SLOTS` order (fewer parts leave the rest
  empty);
* free text, split by :func:`rule_based_slots` (English heuristics; whatever they cannot place
  stays in the subject slot, the honest fallback);
* any user ``rewriter(text) -> dict | "a | b | ..."`` (an LLM, say) in place of the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

SLOTS = ("subject", "action", "time", "place", "style")

Rewriter = Callable[[str], "Mapping[str, str] | str"]

_TIME = re.compile(
    r"\b(?:(?:at|by|during|in the)\s+(?:the\s+)?"
    r"(?:night|nighttime|dawn|dusk|sunrise|sunset|noon|midnight|twilight|daytime|morning|afternoon|evening)"
    r"|(?:in|during)\s+(?:the\s+)?(?:spring|summer|autumn|fall|winter))\b",
    re.IGNORECASE,
)
_PREPOSITIONS = frozenset(
    "in on at under over near inside beside across through along above below into onto around against behind "
    "between among within".split()
)
# -ing words that are usually nouns, never the start of an action
_ING_NOUNS = frozenset(
    "thing king ring wing string spring building ceiling painting clothing evening morning ending".split()
)


def rule_based_slots(text: str) -> dict[str, str]:
    """Split free English text into slots with fixed, deterministic rules.

    1. Everything after the first comma is the style slot.
    2. A time phrase ("at night", "in the morning", "in winter", ...) goes to the time slot.
    3. The action starts at the first "-ing" word after the first word; the place starts at the
       first preposition (in, on, at, under, ...) after the first word; each runs until the other
       starts or the text ends.
    4. The words before both are the subject. If that leaves the subject empty, the whole main
       clause is the subject.

    ``"a red circle moving left on a blue background, flat colours"`` gives subject "a red
    circle", action "moving left", place "on a blue background", style "flat colours".
    """
    main, _, style = text.partition(",")
    slots = dict.fromkeys(SLOTS, "")
    slots["style"] = style.strip(" ,")
    time = _TIME.search(main)
    if time:
        slots["time"] = time.group(0)
        main = main[: time.start()] + main[time.end() :]
    words = main.split()
    action = next((i for i, w in enumerate(words) if i > 0 and _is_action_word(w)), len(words))
    place = next((i for i, w in enumerate(words) if i > 0 and w.lower() in _PREPOSITIONS), len(words))
    subject_end = min(action, place)
    if subject_end == 0:
        return {**slots, "subject": " ".join(words)}
    slots["subject"] = " ".join(words[:subject_end])
    slots["action"] = " ".join(words[action : place if place > action else len(words)])
    slots["place"] = " ".join(words[place : action if action > place else len(words)])
    return slots


def _is_action_word(word: str) -> bool:
    word = word.lower()
    return len(word) >= 5 and word.endswith("ing") and word not in _ING_NOUNS


def structure_prompt(value, rewriter: Rewriter | None = None, *, where: str = "prompt") -> dict[str, str]:
    """The slots of one prompt, every key of :data:`SLOTS` present (possibly empty).

    Args:
        value: a dict of slots (keys from :data:`SLOTS`), a ``"|"``-separated string, or free
            text (split by ``rewriter`` if given, else by :func:`rule_based_slots`).
        rewriter: optional ``rewriter(text)`` returning a dict of slots or a ``"|"`` string.
        where: how errors name this prompt (e.g. "prompt at frame 48").
    """
    if isinstance(value, Mapping):
        return _checked_slots(value, where)
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a string or a dict of slots {SLOTS}, got {type(value).__name__}.")
    if not value.strip():
        raise ValueError(f"{where} is empty.")
    if "|" in value:
        return _split_bars(value, where)
    if rewriter is None:
        return rule_based_slots(value.strip())
    rewritten = rewriter(value)
    if isinstance(rewritten, str):
        return _split_bars(rewritten, f"{where} (as rewritten)")
    if isinstance(rewritten, Mapping):
        return _checked_slots(rewritten, f"{where} (as rewritten)")
    raise TypeError(
        f"the rewriter must return a dict of slots or a '|'-separated string; for {where} it returned "
        f"{type(rewritten).__name__}."
    )


def _split_bars(text: str, where: str) -> dict[str, str]:
    parts = [part.strip() for part in text.split("|")]
    if len(parts) > len(SLOTS):
        raise ValueError(
            f"{where} has {len(parts)} '|'-separated parts; at most {len(SLOTS)} slots are allowed: "
            f"{' | '.join(SLOTS)}."
        )
    return _checked_slots(dict(zip(SLOTS, parts)), where)


def _checked_slots(slots: Mapping, where: str) -> dict[str, str]:
    unknown = [name for name in slots if name not in SLOTS]
    if unknown:
        raise ValueError(f"{where}: unknown slot name(s) {unknown}; allowed: {list(SLOTS)}.")
    for name, text in slots.items():
        if not isinstance(text, str):
            raise TypeError(f"{where}: slot {name!r} must be a string, got {type(text).__name__}.")
    checked = {name: " ".join(slots.get(name, "").split()) for name in SLOTS}
    if not any(checked.values()):
        raise ValueError(f"{where} is empty (every slot is blank).")
    return checked
