"""PromptBlend in TiaraAnimateDiffPipeline and on video UNets: gating seen from inside the UNet,
per-frame guidance, identities, the diffusers baseline, TiARA together, UNet3D, bad input."""

import pytest
import torch
from diffusers import AnimateDiffPipeline
from diffusers.models.attention_processor import AttnProcessor2_0

from plugdiff.attention_processors import (
    PromptBlendAttnProcessor,
    TiaraAttnProcessor,
    cross_attention_processor_names,
    disable_promptblend,
    disable_tiara,
    enable_promptblend,
    enable_tiara,
    temporal_processor_names,
    tiara_controller,
)
from plugdiff.pipelines import (
    PromptSchedule,
    TiaraAnimateDiffPipeline,
    aligned_input_ids,
    context_windows,
    frame_mixing,
    mix,
)
from plugdiff.testing import animatediff_components, tiny_unet3d

SIZE = dict(height=16, width=16)
SCHEDULE = {0: "a red circle moving left", 8: "a blue square spinning on sand"}


@pytest.fixture(scope="module")
def pipe():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, prompt, num_frames=16, steps=2, seed=0, **kwargs):
    return pipe(
        prompt,
        num_frames=num_frames,
        num_inference_steps=steps,
        output_type="pt",
        generator=torch.Generator().manual_seed(seed),
        **SIZE,
        **kwargs,
    ).frames


class Recorder:
    """Plain SDPA cross-attention that logs what each layer receives: (layer, UNet call, timestep,
    encoder_hidden_states)."""

    def __init__(self, name, log, calls):
        self.name, self.log, self.calls = name, log, calls
        self.attention = AttnProcessor2_0()

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs
    ):
        call, t = self.calls[-1]
        self.log.append((self.name, call, t, encoder_hidden_states.clone()))
        return self.attention(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


@pytest.fixture
def recorded(pipe):
    """Install recorders on every spatial cross-attention layer (PromptBlend wraps them)."""
    log, calls = [], []
    unet = pipe.unet
    names = cross_attention_processor_names(unet)
    before = unet.attn_processors
    hook = unet.register_forward_pre_hook(
        lambda m, a, kw: calls.append((len(calls), float(torch.as_tensor(a[1]).flatten()[0]))), with_kwargs=True
    )
    unet.set_attn_processor({n: Recorder(n, log, calls) if n in names else p for n, p in before.items()})
    yield log
    hook.remove()
    unet.set_attn_processor(before)


def expected_conditions(pipe, schedule, num_frames, transition):
    schedule = PromptSchedule.parse(schedule)
    embeddings = pipe._encode_token_ids(aligned_input_ids(pipe.tokenizer, schedule), "cpu", None)
    anchor_w, blend_w = frame_mixing(schedule.frames, num_frames, transition)
    negative = pipe.encode_prompt("", "cpu", 1, True, None)[1]
    return mix(anchor_w, embeddings), mix(blend_w, embeddings), negative


def layer_kind(name):
    return "up" if name.startswith("up_blocks.") else "mid" if name.startswith("mid_block.") else "down"


def test_gating_seen_inside_the_unet(pipe, recorded):
    """One window of 16 frames, 5 trailing steps (t = 999, 799, 599, 399, 199: progress 0.001 ..
    0.801), step_range (0.3, 0.7): encoder/mid layers get the anchors except at t = 599 and 399,
    decoder layers always get the blended conditions; the guidance half always the negative."""
    generate(pipe, SCHEDULE, steps=5, windows=False, prompt_blend={"transition": 6, "step_range": (0.3, 0.7)})
    anchor, blended, negative = expected_conditions(pipe, SCHEDULE, 16, 6)
    assert not torch.allclose(anchor[3:8], blended[3:8])  # frames 3..7 are inside the transition window
    assert torch.equal(anchor[:3], blended[:3]) and torch.equal(anchor[8:], blended[8:])
    seen = set()
    for name, _, t, condition in recorded:
        assert condition.shape == (32, 77, 32)
        assert torch.equal(condition[:16], negative.expand(16, -1, -1))  # CFG: negative half first, per frame
        inside = t in (599.0, 399.0)
        wants_blend = layer_kind(name) == "up" or inside
        assert torch.equal(condition[16:], blended if wants_blend else anchor), (name, t)
        seen.add((layer_kind(name), inside))
    assert seen == {(kind, inside) for kind in ("down", "mid", "up") for inside in (False, True)}


def test_windows_get_their_own_frames(pipe, recorded):
    """40 frames in windows of 16, stride 4: every UNet call's conditions are those of its frames."""
    schedule = {0: "a red circle", 20: "a green triangle moving up", 30: "a yellow square"}
    generate(pipe, schedule, num_frames=40, steps=1, guidance_scale=1.0)
    anchor, blended, _ = expected_conditions(pipe, schedule, 40, 0.5)
    windows = context_windows(40, 16, 4)
    assert {call for _, call, _, _ in recorded} == set(range(len(windows)))
    for name, call, _, condition in recorded:  # t = 999: outside (0.1, 0.3), no guidance
        expected = blended if layer_kind(name) == "up" else anchor
        assert torch.equal(condition, expected[windows[call]]), (name, call)


@pytest.mark.parametrize("num_frames", [8, 40])
def test_one_prompt_schedule_is_the_plain_prompt_bit_for_bit(pipe, num_frames):
    """A schedule of one prompt aligns to the plain tokenization, anchor = blended: PromptBlend's
    processors then change nothing."""
    plain = generate(pipe, "a red circle moving left", num_frames=num_frames)
    blended = generate(
        pipe, {0: "a red circle moving left"}, num_frames=num_frames, prompt_blend={"step_range": (0.0, 0.5)}
    )
    assert torch.equal(plain, blended)
    assert torch.equal(generate(pipe, "0: a red circle moving left", num_frames=num_frames, prompt_blend=False), plain)


def test_schedules_change_the_video_and_promptblend_differs_from_linear(pipe):
    plain = generate(pipe, SCHEDULE[0])
    blend = generate(pipe, SCHEDULE)
    linear = generate(pipe, SCHEDULE, prompt_blend=False)
    assert not torch.allclose(blend, plain, atol=1e-4) and not torch.allclose(blend, linear, atol=1e-4)


def test_linear_baseline_equals_diffusers_freenoise_interpolation():
    """prompt_blend=False is diffusers' FreeNoise multi-prompt interpolation: same video as
    diffusers' AnimateDiffPipeline with FreeNoise on the same components."""
    schedule = {0: "a red circle", 24: "a blue square moving up"}
    ours = TiaraAnimateDiffPipeline(**animatediff_components())
    theirs = AnimateDiffPipeline(**animatediff_components())
    for p in (ours, theirs):
        p.set_progress_bar_config(disable=True)
        p.enable_free_noise(context_length=16, context_stride=4)
    a = generate(ours, schedule, num_frames=40, prompt_blend=False, negative_prompt="blurry")
    b = generate(theirs, schedule, num_frames=40, negative_prompt="blurry")
    assert torch.allclose(a, b, atol=1e-5)
    c = generate(ours, "a red circle", num_frames=40)  # one prompt under FreeNoise: diffusers' result too
    assert torch.allclose(c, generate(theirs, "a red circle", num_frames=40), atol=1e-5)
    # PromptBlend under FreeNoise: all frames in one UNet call, the motion modules window themselves
    d = generate(ours, schedule, num_frames=40, tiara={"alpha": 5.0})
    assert d.shape == (1, 40, 3, 16, 16) and torch.isfinite(d).all() and not torch.allclose(a, d, atol=1e-4)


def test_64_frames_three_prompts_with_tiara_and_promptblend(pipe):
    before = dict(pipe.unet.attn_processors)
    during = {}

    def look(pipeline, i, t, kwargs):
        during.update(pipeline.unet.attn_processors)
        return {}

    schedule = (
        "0: a red circle moving right\n24: a red circle | bouncing | | on grass\n"
        "48: a red circle sleeping on grass at night"
    )
    frames = generate(
        pipe,
        schedule,
        num_frames=64,
        steps=2,
        tiara={"alpha": 5.0},
        callback_on_step_end=look,
        negative_prompt="noise",
        prompt_blend={"transition": 12},
    )
    assert frames.shape == (1, 64, 3, 16, 16) and torch.isfinite(frames).all()
    temporal, cross = set(temporal_processor_names(pipe.unet)), set(cross_attention_processor_names(pipe.unet))
    assert temporal and cross and not temporal & cross
    assert all(isinstance(during[n], TiaraAttnProcessor) for n in temporal)
    assert all(isinstance(during[n], PromptBlendAttnProcessor) for n in cross)
    assert all(during[n] is before[n] for n in before if n not in temporal | cross)
    assert all(pipe.unet.attn_processors[n] is before[n] for n in before)  # both taken off after the call
    assert tiara_controller(pipe) is None


def test_promptblend_and_tiara_install_in_any_order():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    unet = pipe.unet
    before = dict(unet.attn_processors)
    for first, second in [(0, 1), (1, 0)]:
        steps = [lambda: enable_tiara(pipe, alpha=5.0), lambda: enable_promptblend(pipe)]
        steps[first]()
        steps[second]()
        procs = unet.attn_processors
        assert sum(isinstance(p, TiaraAttnProcessor) for p in procs.values()) == len(temporal_processor_names(unet))
        blend = [p for p in procs.values() if isinstance(p, PromptBlendAttnProcessor)]
        assert len(blend) == len(cross_attention_processor_names(unet))
        assert all(p.fallback is before[n] for n, p in procs.items() if isinstance(p, PromptBlendAttnProcessor))
        (disable_tiara, disable_promptblend)[first](pipe)
        (disable_tiara, disable_promptblend)[second](pipe)
        assert all(unet.attn_processors[n] is before[n] for n in before)


def test_replaced_cross_attention_processors_are_wrapped_again_and_restored():
    """PromptBlend is installed by TiARA's mechanism: processors set after enable_promptblend are
    wrapped at the next UNet call, and disable_promptblend leaves the newer ones."""
    unet = tiny_unet3d()
    controller = enable_promptblend(unet)
    unet.set_attn_processor(AttnProcessor2_0())
    replaced = dict(unet.attn_processors)
    frames = torch.randn(8, 77, 32)
    controller.update(frames, frames, 500)
    with torch.no_grad():
        unet(torch.randn(1, 4, 8, 16, 16), 500, encoder_hidden_states=torch.randn(1, 77, 32))
    names = cross_attention_processor_names(unet)
    wrapped = unet.attn_processors
    assert all(isinstance(wrapped[n], PromptBlendAttnProcessor) and wrapped[n].fallback is replaced[n] for n in names)
    disable_promptblend(unet)
    assert all(unet.attn_processors[n] is replaced[n] for n in replaced)


def test_unet3d_takes_per_frame_conditions_the_same_way():
    """UNet3DConditionModel repeats one condition per frame inside; PromptBlend's processors
    replace it with the controller's per-frame conditions, as on UNetMotionModel."""
    unet = tiny_unet3d()
    g = torch.Generator().manual_seed(0)
    sample, context = torch.randn(1, 4, 8, 16, 16, generator=g), torch.randn(1, 77, 32, generator=g)
    with torch.no_grad():
        stock = unet(sample, 500, encoder_hidden_states=context).sample
    log, calls = [], [(0, 500.0)]
    names = cross_attention_processor_names(unet)
    assert names and all(".temp_attentions." not in n and not n.startswith("transformer_in.") for n in names)
    unet.set_attn_processor({n: Recorder(n, log, calls) if n in names else p for n, p in unet.attn_processors.items()})
    controller = enable_promptblend(unet, step_range=(0.0, 0.2))  # t = 500: progress 0.5, outside
    same = context.expand(8, -1, -1)
    controller.update(same, same, 500)
    with torch.no_grad():
        assert torch.equal(unet(sample, 500, encoder_hidden_states=context).sample, stock)
    anchor = torch.randn(8, 77, 32, generator=g)
    blended = torch.randn(8, 77, 32, generator=g)
    log.clear()
    controller.update(anchor, blended, 500)
    with torch.no_grad():
        out = unet(sample, 500, encoder_hidden_states=context).sample
    assert not torch.allclose(out, stock, atol=1e-4)
    assert {layer_kind(name) for name, *_ in log} == {"down", "mid", "up"}
    for name, _, _, condition in log:
        assert torch.equal(condition, blended if layer_kind(name) == "up" else anchor), name
    controller.update(anchor, blended, 900)  # progress 0.1: inside, every layer blended
    log.clear()
    with torch.no_grad():
        unet(sample, 900, encoder_hidden_states=context)
    assert all(torch.equal(condition, blended) for *_, condition in log)


def test_controller_errors():
    unet = tiny_unet3d()
    controller = enable_promptblend(unet)
    sample, context = torch.randn(1, 4, 8, 16, 16), torch.randn(1, 77, 32)
    with pytest.raises(RuntimeError, match="controller.update"):
        unet(sample, 500, encoder_hidden_states=context)
    controller.update(torch.zeros(4, 77, 32), torch.zeros(4, 77, 32), 500)
    with pytest.raises(ValueError, match="batch of 8"):
        unet(sample, 500, encoder_hidden_states=context)
    with pytest.raises(ValueError, match="same shape"):
        controller.update(torch.zeros(4, 77, 32), torch.zeros(8, 77, 32), 500)
    with pytest.raises(TypeError, match="PromptBlend acts on video UNets"):
        enable_promptblend(animatediff_components()["unet"])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(prompt_blend="yes"), TypeError, "prompt_blend"),
        (dict(prompt_blend={"transition": 0}), ValueError, "transition"),
        (dict(prompt_blend={"step_range": (0.5, 0.1)}), ValueError, "step_range"),
        (dict(prompt_blend={"width": 3}), TypeError, "width"),
        (dict(prompt={4: "a red circle"}), ValueError, "first key frame must be 0"),
        (dict(prompt={0: "a red circle", 16: "a blue square"}), ValueError, r"\[16\] lie outside"),
        (dict(prompt={0: "a", 8: ""}), ValueError, "frame 8 is empty"),
        (dict(prompt={0: {"subject": "a", "colour": "red"}}), ValueError, "unknown slot"),
        (dict(prompt="0: a\n8: b\n4: c"), ValueError, "increasing"),
        (dict(prompt_embeds=torch.zeros(1, 77, 32)), ValueError, "prompt_embeds"),
        (dict(negative_prompt=["x", "y"]), TypeError, "negative_prompt"),
        (dict(callback_on_step_end_tensor_inputs=["nope"]), ValueError, "callback_on_step_end_tensor_inputs"),
    ],
)
def test_bad_input_leaves_the_pipeline_untouched(pipe, kwargs, error, match):
    before = dict(pipe.unet.attn_processors)
    call = dict(prompt=SCHEDULE, num_frames=16, num_inference_steps=1, output_type="pt", **SIZE)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        pipe(**call)
    assert all(pipe.unet.attn_processors[n] is before[n] for n in before)


def test_windows_with_diffusers_freenoise_is_an_error():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.enable_free_noise(context_length=16, context_stride=4)
    with pytest.raises(ValueError, match="windows"):
        pipe(SCHEDULE, num_frames=16, num_inference_steps=1, windows=True, **SIZE)
