"""PromptBlend's text side: schedules, slots, slot-wise token alignment, per-frame weights."""

import pytest
import torch

from plugdiff.pipelines import (
    SLOTS,
    PromptBlendSettings,
    PromptSchedule,
    align_slots,
    aligned_input_ids,
    frame_mixing,
    is_schedule,
    mix,
    rule_based_slots,
    structure_prompt,
)
from plugdiff.shapesworld.text_models import char_clip_tokenizer

# ------------------------------------------------------------------ schedules


def test_dict_with_int_and_numeric_string_keys():
    schedule = PromptSchedule.parse({0: "a red circle", "48": "a blue square", " 60 ": "a green triangle"})
    assert schedule.frames == [0, 48, 60]
    assert schedule.texts == ["a red circle", "a blue square", "a green triangle"]


def test_prompt_travel_text_with_comments_and_head_tail():
    text = "# scene list\n0: a red circle moving left\n\n  32 :  a red circle moving right \n"
    assert is_schedule(text) and not is_schedule("a red circle") and not is_schedule(["0: a"])
    schedule = PromptSchedule.parse(text, head="flat", tail="on white")
    assert schedule.frames == [0, 32]
    assert schedule.texts == ["flat a red circle moving left on white", "flat a red circle moving right on white"]
    assert schedule.keyframes[1].slots["action"] == "moving right"
    assert schedule.slot_texts()[0] == ["flat", "a red circle", "moving left", "", "", "", "on white"]


def test_structured_slots_bars_and_rewriter():
    schedule = PromptSchedule.parse(
        {0: {"subject": "a fox", "place": "in a forest"}, 16: "a fox | sleeping | at night", 32: "a fox jumps"},
        rewriter=lambda text: {"subject": text.split()[1], "action": text.split()[2]},
    )
    assert schedule.keyframes[0].slots == {
        "subject": "a fox",
        "action": "",
        "time": "",
        "place": "in a forest",
        "style": "",
    }
    assert (
        schedule.keyframes[1].slots["time"] == "at night" and schedule.keyframes[1].text == "a fox sleeping at night"
    )
    assert schedule.keyframes[2].slots == {"subject": "fox", "action": "jumps", "time": "", "place": "", "style": ""}
    assert schedule.keyframes[2].text == "a fox jumps"  # the text keeps the user's words


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "a red circle moving left on a blue background, flat colours",
            dict(subject="a red circle", action="moving left", place="on a blue background", style="flat colours"),
        ),
        (
            "a red fox sleeping in a snowy forest at night",
            dict(subject="a red fox", action="sleeping", time="at night", place="in a snowy forest"),
        ),
        (
            "a castle on a hill running through the evening",
            dict(subject="a castle", action="running through the evening", place="on a hill"),
        ),
        ("a yellow square", dict(subject="a yellow square")),
        ("running in the rain", dict(subject="running", place="in the rain")),  # rules need a first word
        ("in the rain", dict(subject="in the rain")),  # nothing before the place: whole text is the subject
        ("an old building in the morning", dict(subject="an old building", time="in the morning")),
    ],
)
def test_rule_based_slots(text, expected):
    slots = rule_based_slots(text)
    assert list(slots) == list(SLOTS)
    assert slots == {name: expected.get(name, "") for name in SLOTS}


@pytest.mark.parametrize(
    "prompt, error, match",
    [
        ({4: "a red circle"}, ValueError, "first key frame must be 0"),
        ({0: "a", "0": "b"}, ValueError, r"\[0\] given more than once"),
        ({0: "a", 32: "b", 16: "c"}, ValueError, "increasing order"),
        ("0: a\n16: b\n8: c", ValueError, "increasing order"),
        ("0: a\nthen something", ValueError, "line 2"),
        ({0: "a", 8: "   "}, ValueError, "prompt at frame 8 is empty"),
        ({0: "a", 8: ""}, ValueError, "prompt at frame 8 is empty"),
        ({0: {"subject": "", "style": " "}}, ValueError, "every slot is blank"),
        ({0: {"subject": "a fox", "mood": "happy"}}, ValueError, r"unknown slot name\(s\) \['mood'\]"),
        ({0: "a | b | c | d | e | f"}, ValueError, "at most 5 slots"),
        ({0: 5}, TypeError, "prompt at frame 0 must be a string"),
        ({0: {"subject": 3}}, TypeError, "slot 'subject'"),
        ({1.5: "a"}, TypeError, "frame numbers"),
        ({True: "a"}, TypeError, "frame numbers"),
        ({}, ValueError, "empty"),
        (["0: a"], TypeError, "dict"),
    ],
)
def test_bad_schedules(prompt, error, match):
    with pytest.raises(error, match=match):
        PromptSchedule.parse(prompt)


def test_key_frames_must_lie_in_the_video_and_rewriter_output_is_checked():
    schedule = PromptSchedule.parse({0: "a", 64: "b"})
    schedule.check_frames(65)
    with pytest.raises(ValueError, match=r"\[64\] lie outside \[0, num_frames=64\)"):
        schedule.check_frames(64)
    with pytest.raises(ValueError, match=r"as rewritten.*unknown slot"):
        structure_prompt("a fox", rewriter=lambda text: {"who": text})
    with pytest.raises(TypeError, match="rewriter must return"):
        structure_prompt("a fox", rewriter=lambda text: 3)
    with pytest.raises(TypeError, match="`head` must be a string"):
        PromptSchedule.parse({0: "a"}, head=None)


# ------------------------------------------------------------------ alignment


def slot_tokens(tokenizer, schedule):
    return [
        [tokenizer(t, add_special_tokens=False).input_ids if t else [] for t in prompt]
        for prompt in schedule.slot_texts()
    ]


def test_alignment_gives_equal_slot_lengths_by_repeating_own_tokens():
    tokenizer = char_clip_tokenizer()
    schedule = PromptSchedule.parse(
        {0: "a red circle moving left", 16: "a big blue square | spinning", 40: "a dot | | at dawn"}
    )
    tokens = slot_tokens(tokenizer, schedule)
    ids = aligned_input_ids(tokenizer, schedule)
    assert ids.shape == (3, 77)
    aligned, lengths = align_slots(tokens, 75, tokenizer.pad_token_id)
    assert lengths == [0, len("abigbluesquare"), len("movingleft"), len("atdawn"), 0, 0, 0]
    for p, prompt in enumerate(tokens):
        row = ids[p].tolist()
        assert row[0] == tokenizer.bos_token_id and row[1 + sum(lengths)] == tokenizer.eos_token_id
        assert row[1 : 1 + sum(lengths)] == aligned[p]
        offset = 1
        for k, own in enumerate(prompt):
            segment = row[offset : offset + lengths[k]]
            if own:  # cyclic repetition of the prompt's own tokens, never pad
                assert segment == [own[i % len(own)] for i in range(lengths[k])]
            else:
                assert segment == [tokenizer.pad_token_id] * lengths[k]
            offset += lengths[k]
    # "a red circle" (10 character tokens) repeated to the 14 of "a big blue square": its own first 4 again
    subject = ids[0, 1 : 1 + lengths[1]].tolist()
    assert tokenizer.decode(subject).replace(" ", "") == "aredcircleared"


def test_single_prompt_alignment_equals_the_plain_tokenizer():
    tokenizer = char_clip_tokenizer()
    ids = aligned_input_ids(tokenizer, PromptSchedule.parse({0: "a red circle moving left on blue"}))
    plain = tokenizer(
        "a red circle moving left on blue", padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    ).input_ids
    assert torch.equal(ids, plain)


def test_long_prompts_shrink_the_longest_slots_first_with_a_warning():
    tokenizer = char_clip_tokenizer()
    long_place = "on a wide green meadow beside a calm blue lake under tall old trees"  # 54 chars
    schedule = PromptSchedule.parse(
        {0: f"a red circle | rolling | | {long_place}", 8: "a small blue square | spinning slowly | at dawn | on sand"}
    )
    with pytest.warns(UserWarning, match=r"place 54 -> \d+"):
        ids = aligned_input_ids(tokenizer, schedule)
    assert ids.shape == (2, 77)
    assert (ids[:, -1] == tokenizer.eos_token_id).all()  # EOS still in: the prompt was fitted, not cut off
    with pytest.warns(UserWarning):
        aligned, lengths = align_slots(slot_tokens(tokenizer, schedule), 75, tokenizer.pad_token_id)
    assert sum(lengths) == 75 and lengths[4] < 54
    # the other slots keep every token: only the longest (place) had to give
    assert lengths[1:4] == [len("asmallbluesquare"), len("spinningslowly"), len("atdawn")]


def test_align_slots_shrinks_ties_from_the_end():
    with pytest.warns(UserWarning, match="head 3 -> 2, subject 3 -> 2"):
        aligned, lengths = align_slots([[[1, 2, 3], [4, 5, 6]], [[7], [8]]], 4, 0)
    assert lengths == [2, 2] and aligned == [[1, 2, 4, 5], [7, 7, 8, 8]]


# ------------------------------------------------------------------ per-frame weights


def test_weights_at_window_edges_and_middle():
    """Key frames 0, 40, 100 in 128 frames, transition 20 frames: frames 20..40 blend P0 -> P1
    with a = (n - 20) / 20; 80..100 blend P1 -> P2."""
    anchor, blended = frame_mixing([0, 40, 100], 128, 20)
    assert anchor.shape == blended.shape == (128, 3)
    ones = torch.ones(128, dtype=torch.float64)
    assert torch.allclose(anchor.sum(1), ones) and torch.allclose(blended.sum(1), ones)
    expect = lambda *w: torch.tensor(w, dtype=torch.float64)
    assert torch.equal(blended[0], expect(1, 0, 0)) and torch.equal(blended[19], expect(1, 0, 0))
    assert torch.equal(blended[20], expect(1, 0, 0))  # window start e_0: a = 0
    assert torch.allclose(blended[21], expect(19 / 20, 1 / 20, 0))
    assert torch.allclose(blended[30], expect(0.5, 0.5, 0))  # middle
    assert torch.allclose(blended[39], expect(1 / 20, 19 / 20, 0))
    assert torch.equal(blended[40], expect(0, 1, 0))  # key frame: a = 1, the next prompt exactly
    assert torch.allclose(blended[90], expect(0, 0.5, 0.5)) and torch.equal(blended[100], expect(0, 0, 1))
    assert torch.equal(blended[127], expect(0, 0, 1))
    # anchors: the prompt of the segment [k_i, k_{i+1})
    assert anchor[:40, 0].eq(1).all() and anchor[40:100, 1].eq(1).all() and anchor[100:, 2].eq(1).all()


def test_transition_as_fraction_and_whole_gap():
    _, half = frame_mixing([0, 32], 48, 0.5)  # 16-frame window ending at 32
    assert torch.equal(half[16], torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(half[24], torch.tensor([0.5, 0.5], dtype=torch.float64))
    _, whole = frame_mixing([0, 32], 48, 1.0)  # diffusers' lerp: a = n / 32 over the whole gap
    n = torch.arange(33, dtype=torch.float64)
    assert torch.allclose(whole[:33, 1], n / 32)
    _, capped = frame_mixing([0, 4], 8, 100)
    assert torch.allclose(capped[:5, 1], torch.arange(5, dtype=torch.float64) / 4)
    _, cut = frame_mixing([0, 4], 8, 1)  # a transition of one frame is a cut
    assert torch.equal(cut[:, 1], torch.tensor([0, 0, 0, 0, 1, 1, 1, 1], dtype=torch.float64))


def test_mix_is_exact_for_one_hot_rows():
    embeddings = torch.randn(3, 77, 32)
    anchor, blended = frame_mixing([0, 10, 20], 30, 6)
    assert torch.equal(mix(anchor, embeddings)[15], embeddings[1])
    assert torch.allclose(mix(blended, embeddings)[7], 0.5 * embeddings[0] + 0.5 * embeddings[1], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(transition=0), "transition"),
        (dict(transition=1.5), "transition"),
        (dict(transition=0.0), "transition"),
        (dict(transition=True), "transition"),
        (dict(transition="long"), "transition"),
        (dict(step_range=(0.5, 0.2)), "step_range"),
        (dict(step_range=(0.1,)), "step_range"),
        (dict(step_range=(-0.1, 0.3)), "step_range"),
        (dict(step_range="01"), "step_range"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PromptBlendSettings(**kwargs)
