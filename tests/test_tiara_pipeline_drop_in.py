"""TiaraAnimateDiffPipeline used exactly as diffusers' AnimateDiffPipeline (tiny components).

With TiARA off, one prompt and no windows the output must equal stock AnimateDiff's, so most
tests run both pipelines on the same components and compare."""

import inspect
import warnings

import pytest
import torch
from diffusers import AnimateDiffPipeline, DiffusionPipeline
from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.testing import animatediff_components

CALL = dict(prompt="a red circle", num_frames=4, num_inference_steps=2, height=16, width=16, output_type="pt")


@pytest.fixture(scope="module")
def pipes():
    ours = TiaraAnimateDiffPipeline(**animatediff_components())
    stock = AnimateDiffPipeline(**ours.components)
    for pipe in (ours, stock):
        pipe.set_progress_bar_config(disable=True)
    return ours, stock


def run(pipe, seed=0, **kwargs):
    return pipe(**{**CALL, **kwargs}, generator=torch.Generator().manual_seed(seed)).frames


def test_signature_takes_every_stock_argument_in_order():
    stock = inspect.signature(AnimateDiffPipeline.__call__).parameters
    ours = inspect.signature(TiaraAnimateDiffPipeline.__call__).parameters
    stock_names = [n for n in stock if n != "kwargs"]
    assert list(ours)[: len(stock_names)] == stock_names  # positional order included (eta after num_videos_per_prompt)
    for name in stock_names:
        assert ours[name].default == stock[name].default or name == "num_frames", name


def test_output_types_and_tuple_equal_stock(pipes):
    ours, stock = pipes
    shapes = {"pt": (1, 4, 3, 16, 16), "np": (1, 4, 16, 16, 3), "latent": (1, 4, 4, 8, 8)}
    for output_type, shape in shapes.items():
        frames = run(ours, output_type=output_type)
        assert tuple(frames.shape) == shape
        assert (frames == run(stock, output_type=output_type)).all(), output_type
    as_tuple = ours(**CALL, generator=torch.Generator().manual_seed(0), return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], run(stock))
    pil = run(ours, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == 4 and isinstance(pil[0][0], Image.Image)


def test_batch_of_prompts_and_videos_per_prompt(pipes):
    ours, stock = pipes
    prompts = ["a red circle", "a blue square"]
    batch = run(ours, prompt=prompts)
    assert torch.equal(batch, run(stock, prompt=prompts))
    # num_videos_per_prompt=2 is the prompt list with each prompt twice (same latents drawn)
    two_each = run(ours, prompt=prompts, num_videos_per_prompt=2)
    assert two_each.shape[0] == 4
    assert torch.equal(two_each, run(ours, prompt=[p for p in prompts for _ in range(2)]))
    schedule = run(ours, prompt={0: "a red circle", 2: "a blue square"}, num_videos_per_prompt=2)
    assert schedule.shape[0] == 2 and not torch.equal(schedule[0], schedule[1])  # two videos, two noises


def test_prompt_embeds_alone_equal_the_prompt(pipes):
    ours, _ = pipes
    positive, negative = ours.encode_prompt(CALL["prompt"], "cpu", 1, True)
    by_embeds = run(ours, prompt=None, prompt_embeds=positive, negative_prompt_embeds=negative)
    assert torch.equal(by_embeds, run(ours))


def test_eta_positionally_and_deprecated_callback(pipes):
    ours, stock = pipes
    args = ("a red circle", 4, 16, 16, 2, 7.5, None, 1, 0.0)  # ..., negative_prompt, num_videos_per_prompt, eta
    positional = ours(*args, generator=torch.Generator().manual_seed(0), output_type="pt").frames
    assert torch.equal(positional, run(ours))
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(ours, callback=lambda i, t, latents: seen.append((i, int(t), tuple(latents.shape))), callback_steps=1)
    assert [s[0] for s in seen] == [0, 1] and seen[0][2] == (1, 4, 4, 8, 8)
    assert any(issubclass(w.category, FutureWarning) and "callback" in str(w.message) for w in caught)
    with pytest.raises(TypeError, match="callbak"):
        run(ours, callbak=print)


def test_free_init_runs_and_equals_stock(pipes):
    ours, stock = pipes
    plain = run(ours)
    for pipe in (ours, stock):
        pipe.enable_free_init(num_iters=2, use_fast_sampling=False, method="butterworth")
    try:
        with_free_init = run(ours)
        assert torch.equal(with_free_init, run(stock))
    finally:
        for pipe in (ours, stock):
            pipe.disable_free_init()
    assert not torch.allclose(with_free_init, plain, atol=1e-4)


def test_free_noise_equals_stock(pipes):
    ours, stock = pipes
    for pipe in (ours, stock):
        pipe.enable_free_noise(context_length=4, context_stride=2)
    try:
        ours_frames = run(ours, num_frames=8)
        stock_frames = run(stock, num_frames=8)
    finally:
        for pipe in (ours, stock):
            pipe.disable_free_noise()
    assert ours_frames.shape == (1, 8, 3, 16, 16)
    assert torch.allclose(ours_frames, stock_frames, atol=1e-5)


def test_lora_scale_reaches_the_text_encoder(pipes, monkeypatch):
    ours, _ = pipes
    scales = []
    original = ours.encode_prompt
    monkeypatch.setattr(ours, "encode_prompt", lambda *a, **k: scales.append(k.get("lora_scale")) or original(*a, **k))
    run(ours, cross_attention_kwargs={"scale": 0.5})
    run(
        ours, prompt={0: "a red circle", 2: "a blue square"}, prompt_blend=False, cross_attention_kwargs={"scale": 0.5}
    )
    assert scales and set(scales) == {0.5}


def test_clip_skip_uses_an_earlier_layer(pipes):
    ours, stock = pipes
    ids = ours.tokenizer(
        CALL["prompt"],
        padding="max_length",
        max_length=ours.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    hidden = ours.text_encoder(ids, output_hidden_states=True).hidden_states
    encoder = getattr(ours.text_encoder, "text_model", ours.text_encoder)
    expected = encoder.final_layer_norm(hidden[-2])
    with torch.no_grad():
        embeds, _ = ours.encode_prompt(CALL["prompt"], "cpu", 1, False, clip_skip=1)
        assert torch.equal(embeds, expected)
    assert not torch.equal(run(ours, clip_skip=1), run(ours))


# ---------------------------------------------------------------------- IP-Adapter
def ip_adapter_state_dict(unet, image_embed_dim: int, cross_attention_dim: int) -> dict:
    """Random IP-Adapter weights in the original checkpoint layout, for every cross-attention layer."""
    torch.manual_seed(0)
    ip_layers, key = {}, 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor") or "motion_modules" in name:
            continue
        block = unet.mid_block if name.startswith("mid_block") else None
        if block is None:
            index = int(name.split(".")[1])
            block = unet.down_blocks[index] if name.startswith("down_blocks") else unet.up_blocks[index]
        hidden_size = block.resnets[0].out_channels
        layer = IPAdapterAttnProcessor2_0(hidden_size, cross_attention_dim, scale=1.0).state_dict()
        ip_layers.update(
            {f"{key}.to_k_ip.weight": layer["to_k_ip.0.weight"], f"{key}.to_v_ip.weight": layer["to_v_ip.0.weight"]}
        )
        key += 2
    proj = torch.nn.Linear(image_embed_dim, cross_attention_dim * 4)
    norm = torch.nn.LayerNorm(cross_attention_dim)
    image_proj = {
        "proj.weight": proj.weight,
        "proj.bias": proj.bias,
        "norm.weight": norm.weight,
        "norm.bias": norm.bias,
    }
    return {"image_proj": image_proj, "ip_adapter": ip_layers}


def test_ip_adapter_image_and_embeds_equal_stock():
    components = animatediff_components()
    torch.manual_seed(0)
    components["image_encoder"] = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=4,
            intermediate_size=37,
        )
    ).eval()
    components["feature_extractor"] = CLIPImageProcessor(crop_size=32, size=32)
    ours = TiaraAnimateDiffPipeline(**components)
    stock = AnimateDiffPipeline(**ours.components)
    for pipe in (ours, stock):
        pipe.set_progress_bar_config(disable=True)
    without = run(ours)
    ours.unet._load_ip_adapter_weights([ip_adapter_state_dict(ours.unet, 32, ours.unet.config.cross_attention_dim)])
    image = Image.new("RGB", (32, 32), (200, 30, 30))
    with_image = run(ours, ip_adapter_image=image)
    assert torch.equal(with_image, run(stock, ip_adapter_image=image))
    assert not torch.allclose(with_image, without, atol=1e-4)
    embeds = ours.prepare_ip_adapter_image_embeds(image, None, "cpu", 1, True)
    assert torch.equal(run(ours, ip_adapter_image_embeds=embeds), with_image)
    windowed = run(ours, ip_adapter_image=image, num_frames=8, windows={"context_length": 4, "context_stride": 2})
    assert windowed.shape == (1, 8, 3, 16, 16) and torch.isfinite(windowed).all()


# ---------------------------------------------------------------------- save / load
def test_saved_folder_loads_with_stock_diffusers_and_back(pipes, tmp_path):
    ours, stock = pipes
    ours.save_pretrained(tmp_path / "ours")
    plain = DiffusionPipeline.from_pretrained(tmp_path / "ours")
    assert type(plain) is AnimateDiffPipeline
    back = TiaraAnimateDiffPipeline.from_pretrained(tmp_path / "ours")  # the one documented line
    assert type(back) is TiaraAnimateDiffPipeline
    stock.save_pretrained(tmp_path / "stock")
    from_stock = TiaraAnimateDiffPipeline.from_pretrained(tmp_path / "stock")
    expected = run(ours)
    for pipe in (plain, back, from_stock):
        pipe.set_progress_bar_config(disable=True)
        assert torch.allclose(run(pipe), expected, atol=1e-4)  # reloaded weights: float32 reduction order
