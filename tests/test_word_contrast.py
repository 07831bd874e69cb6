"""The word-contrast loss: run with the caption's direction words swapped, the model must predict
the opposite drift (plugdiff.shapesworld.word_contrast)."""

import pytest
import torch

from plugdiff.shapesworld.models import CAPTION_TOKENS, world_tokenizer
from plugdiff.shapesworld.track_loss import circular_track, track_displacement
from plugdiff.shapesworld.word_contrast import opposite_token_map, swap_directions, word_contrast_loss
from plugdiff.shapesworld.world import random_spec, render_clip


def test_swapping_exchanges_left_and_right_and_up_and_down_and_nothing_else():
    tok = world_tokenizer(CAPTION_TOKENS)
    mapping = opposite_token_map(tok)

    def ids(text):
        return tok([text], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids

    for a, b in [("left", "right"), ("right", "left"), ("up", "down"), ("down", "up")]:
        caption = f"a red circle moving {a} on a black background"
        assert torch.equal(swap_directions(ids(caption), mapping), ids(caption.replace(a, b)))
    still = ids("a red circle staying still on a black background")
    assert torch.equal(swap_directions(still, mapping), still)


def _mover(direction: str, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    spec = random_spec(g, directions=[direction], include_held_out=True, num_frames=16, wrap=True)
    return render_clip(spec, 16).transpose(0, 1)[None].double()  # (1, 3, F, H, W)


def test_reversing_the_frames_reads_as_the_opposite_drift_on_the_same_track():
    for direction, seed in [("right", 2), ("up", 5)]:
        clip = _mover(direction, seed)
        around = circular_track(clip)
        forward = track_displacement(clip, periodic=True, around=around)
        backward = track_displacement(clip.flip(2), periodic=True, around=circular_track(clip.flip(2)))
        torch.testing.assert_close(backward, -forward, rtol=0, atol=1e-9)


def test_the_loss_is_zero_for_the_opposite_motion_and_largest_for_the_clips_own():
    clip = torch.cat([_mover("right", 2), _mover("down", 3)])
    abar = torch.full((1000,), 0.5, dtype=torch.float64)
    t = torch.tensor([800, 900])
    everyone = torch.ones(2, dtype=torch.bool)
    calls = []

    def loss(prediction, eligible=everyone, t=t, **kw):
        def predict_swapped(index, noisy, t):
            calls.append(index.tolist())
            # eps such that the predicted clean clip is ``prediction``: noisy = sqrt(abar) z0_hat
            return torch.zeros_like(noisy)

        noisy = prediction * abar[0].sqrt()
        kw.setdefault("max_t", 999)
        return float(word_contrast_loss(clip, noisy, t, predict_swapped, abar, eligible, periodic=True, **kw))

    assert loss(clip.flip(2)) < 1e-10  # the swapped word moved the object the other way
    flat = loss(torch.zeros_like(clip))
    own = loss(clip)  # the swapped word changed nothing: the clip's own motion
    assert flat > 0 and own > 2 * flat
    assert calls[-1] == [0, 1]
    calls.clear()
    # only eligible samples with min_t <= t <= max_t are run again
    assert loss(clip, eligible=torch.tensor([True, False])) > 0 and calls == [[0]]
    calls.clear()
    assert loss(clip, max_t=850) > 0 and calls == [[0]]
    calls.clear()
    assert loss(clip, t=torch.tensor([100, 700])) == 0 and calls == []


def test_a_tokenizer_that_splits_a_direction_word_is_refused():
    class Splitting:
        def __call__(self, word, add_special_tokens=False):
            return type("Ids", (), {"input_ids": [1, 2]})()

    with pytest.raises(ValueError, match="expected one"):
        opposite_token_map(Splitting())
