"""Training the ShapesWorld text-to-video model: the frame autoencoder, the two-stage t2v recipe,
bit-exact resume across the stage boundary, the AnimateDiff export and the warm start."""

import json
from types import SimpleNamespace

import pytest
import torch
from diffusers import AnimateDiffPipeline, AutoencoderKL, UNetMotionModel
from safetensors.torch import load_file

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.shapesworld.models import (
    caption_words,
    motion_adapter,
    text_to_video_unet,
    world_tokenizer,
)
from plugdiff.shapesworld.train import TRAINERS, main, parse_args
from plugdiff.weights import load_pipeline


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    main(["vae", "--out", str(out), "--steps", "2", "--batch", "2", "--size", "16", "--checkpoint-every", "2"])
    return out


def _t2v(out, vae_dir, steps, *extra):
    return main(
        [
            "t2v",
            "--out",
            str(out),
            "--vae",
            str(vae_dir),
            "--steps",
            str(steps),
            "--image-steps",
            "2",
            "--batch",
            "2",
            "--image-batch",
            "3",
            "--frames",
            "4",
            "--size",
            "16",
            "--pool-clips",
            "3",
            "--checkpoint-every",
            "2",
            *extra,
        ]
    )


def test_autoencoder_export_has_a_unit_variance_scaling_factor(vae_dir):
    vae = AutoencoderKL.from_pretrained(vae_dir, use_safetensors=True)
    assert vae.config.latent_channels == 4 and len(vae.config.block_out_channels) == 3  # factor 4
    assert vae.config.scaling_factor > 0 and vae.config.scaling_factor != 0.18215
    assert not list(vae_dir.rglob("*.bin"))


@pytest.mark.parametrize(
    "recipe",
    [
        (),
        (
            "--placement",
            "centred",
            "--clip-weight-max",
            "5",
            "--direction-probe",
            "0.1",
            "--track-loss",
            "1",
            "--clip-t-focus",
            "600",
            "850",
            "0.5",
            "--track-max-t",
            "850",
            "--word-contrast",
            "1",
        ),
        ("--world", "v5", "--image-mix", "2", "--pool-clips", "8"),
        ("--world", "v5", "--pool-clips", "8", "--frame-noise", "1", "--track-loss", "1", "--track-max-t", "950"),
    ],
)
def test_t2v_resume_across_the_stage_boundary_is_bit_exact(tmp_path, vae_dir, recipe):
    straight = _t2v(tmp_path / "a", vae_dir, 4, *recipe)
    _t2v(tmp_path / "b", vae_dir, 2, *recipe)
    resumed = _t2v(tmp_path / "b", vae_dir, 4, "--resume", *recipe)
    assert straight.losses == resumed.losses and len(straight.losses) == 4
    for part in (
        "unet/diffusion_pytorch_model.safetensors",
        "motion_adapter/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ):
        a, b = load_file(str(tmp_path / "a" / part)), load_file(str(tmp_path / "b" / part))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_word_contrast_adds_to_the_clip_steps_only(tmp_path, vae_dir):
    """The swapped-caption pass runs inside the clip steps (next to the direction probe, whose
    feature count it must not disturb) and adds to their loss; the single-frame steps are not
    touched. (Seed 2 draws two captioned movers for the one clip step.)"""
    recipe = ("--world", "v5", "--pool-clips", "8", "--seed", "2", "--uncond-prob", "0", "--direction-probe", "0.1")
    recipe += ("--track-loss", "1", "--track-max-t", "850", "--clip-t-focus", "750", "850", "1")
    plain = _t2v(tmp_path / "plain", vae_dir, 3, *recipe)
    contrast = _t2v(tmp_path / "contrast", vae_dir, 3, *recipe, "--word-contrast", "1")
    assert plain.losses[:2] == contrast.losses[:2]
    assert contrast.losses[2] > plain.losses[2]


def test_frame_noise_changes_the_clip_steps_only_and_one_level_per_frame_is_the_plain_call(tmp_path, vae_dir):
    """--frame-noise leaves the single-frame steps as they were and changes the clip steps; the
    trainer's UNet call with the same timestep in every frame is the plain call, bit for bit."""
    plain = _t2v(tmp_path / "plain", vae_dir, 3, "--world", "v5", "--pool-clips", "8")
    ramped = _t2v(tmp_path / "ramped", vae_dir, 3, "--world", "v5", "--pool-clips", "8", "--frame-noise", "1")
    assert plain.losses[:2] == ramped.losses[:2] and plain.losses[2] != ramped.losses[2]
    z0, (ids, other, weights), _, _ = ramped._batch(2, clips=True)
    noisy = torch.randn(z0.shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([300, 800])
    with torch.no_grad():
        text = ramped._text((ids, other, weights))
        assert torch.equal(ramped._unet(noisy, t[:, None].expand(-1, 4), text), ramped._unet(noisy, t, text))
        ramp = torch.tensor([[0, 300, 600, 900]] * 2)
        assert not torch.equal(ramped._unet(noisy, ramp, text), ramped._unet(noisy, t, text))


def test_motion_only_clip_steps_change_the_motion_modules_and_nothing_else(tmp_path, vae_dir):
    """Read in the checkpoint's trained weights (the export is the EMA, which keeps moving
    towards them for a while after a layer is frozen)."""
    _t2v(tmp_path / "m", vae_dir, 4, "--motion-only")  # two single-frame steps, two clip steps
    before = load_file(str(tmp_path / "m" / "checkpoint" / "state.safetensors"))
    _t2v(tmp_path / "m", vae_dir, 6, "--resume", "--motion-only")
    after = load_file(str(tmp_path / "m" / "checkpoint" / "state.safetensors"))
    trained = [k for k in before if k.startswith("model.")]
    assert any(".motion_modules." in k for k in trained) and any(k.startswith("model.text_encoder") for k in trained)
    changed = {k for k in trained if not torch.equal(before[k], after[k])}
    assert all(".motion_modules." in k for k in changed), sorted(changed)[:3]
    motion = [k for k in trained if ".motion_modules." in k and not k.endswith("pos_embed.pe")]  # pe: a buffer
    assert set(motion) <= changed


def test_image_stage_leaves_the_motion_modules_at_zero_output(tmp_path, vae_dir):
    _t2v(tmp_path / "m", vae_dir, 2)  # two single-frame steps only
    adapter = load_file(str(tmp_path / "m" / "motion_adapter" / "diffusion_pytorch_model.safetensors"))
    assert all(float(v.abs().max()) == 0 for k, v in adapter.items() if ".proj_out." in k)
    _t2v(tmp_path / "m", vae_dir, 4, "--resume")  # then two clip steps train them
    adapter = load_file(str(tmp_path / "m" / "motion_adapter" / "diffusion_pytorch_model.safetensors"))
    assert any(float(v.abs().max()) > 0 for k, v in adapter.items() if ".proj_out." in k)


def test_export_is_an_animatediff_folder_that_diffusers_and_plugdiff_load(tmp_path, vae_dir):
    _t2v(tmp_path / "m", vae_dir, 2, "--eval-clips", "1")
    scores = json.loads((tmp_path / "m" / "training_curve.json").read_text())["curve"][-1]["scores"]
    assert set(scores) == {"held_out", "seen", "steering", "word_drift"}  # every export is scored
    assert [row["t"] for row in scores["word_drift"]] == [750, 850, 950]
    assert scores["held_out"]["clips"] == 5 and scores["steering"]["noises"] == 2
    vanilla = AnimateDiffPipeline.from_pretrained(tmp_path / "m", use_safetensors=True)
    assert isinstance(vanilla.unet, UNetMotionModel)
    pipe = load_pipeline(str(tmp_path / "m"))
    assert type(pipe) is TiaraAnimateDiffPipeline and pipe.vae_scale_factor == 4
    out = pipe(
        "a red circle moving left on a white background",
        num_frames=4,
        num_inference_steps=2,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.frames.shape == (1, 4, 3, 16, 16)


def test_warm_start_begins_at_the_exported_weights(tmp_path, vae_dir):
    _t2v(tmp_path / "m", vae_dir, 2)
    args = parse_args(
        [
            "t2v",
            "--out",
            str(tmp_path / "w"),
            "--vae",
            str(vae_dir),
            "--init",
            str(tmp_path / "m"),
            "--size",
            "16",
            "--frames",
            "4",
            "--pool-clips",
            "2",
        ]
    )
    trainer = TRAINERS["t2v"](args)
    exported = load_file(str(tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors"))
    weights = trainer.models["unet"].state_dict()
    assert all(torch.equal(weights[k], v) for k, v in exported.items())
    saved = type(trainer.tokenizer).from_pretrained(tmp_path / "m" / "tokenizer")
    assert trainer.tokenizer.get_vocab() == saved.get_vocab()  # the text encoder's token ids, kept


def test_zero_initialised_motion_adapter_leaves_the_spatial_unet_unchanged():
    torch.manual_seed(0)
    unet = text_to_video_unet().eval()
    model = UNetMotionModel.from_unet2d(unet, motion_adapter()).eval()
    x, text = torch.randn(2, 4, 16, 8, 8), torch.randn(2, 77, 64)
    t = torch.tensor([10, 700])
    with torch.no_grad():
        video = model(x, t, text.repeat_interleave(16, 0)).sample
        frames = unet(x.transpose(1, 2).flatten(0, 1), t.repeat_interleave(16), text.repeat_interleave(16, 0)).sample
    assert torch.allclose(video, frames.unflatten(0, (2, 16)).transpose(1, 2), atol=1e-5)


def test_world_tokenizer_makes_every_caption_word_one_token(tmp_path):
    tok = world_tokenizer()
    assert world_tokenizer().get_vocab() == tok.get_vocab()  # deterministic
    words = caption_words()
    assert {"red", "triangle", "staying", "background"} <= set(words)
    for word in words:
        assert tok.convert_ids_to_tokens(tok(word, add_special_tokens=False).input_ids) == [word + "</w>"]
    unknown = tok("a purple dog", add_special_tokens=False).input_ids
    assert tok.eos_token_id not in unknown and len(unknown) > 3  # letters, not the unknown token
    tok.save_pretrained(tmp_path)
    assert type(tok).from_pretrained(tmp_path)("a red circle").input_ids == tok("a red circle").input_ids


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--image-steps", "9"], "--image-steps"),
        (["--frames", "40"], "--frames"),
        (["--size", "20"], "--size"),
        (["--uncond-prob", "1"], "--uncond-prob"),
        (["--direction-probe", "-1"], "--direction-probe"),
        (["--direction-probe", "nan"], "--direction-probe"),
        (["--clip-weight-max", "0.5"], "--clip-weight-max"),
        (["--clip-weight-max", "inf"], "--clip-weight-max"),
        (["--placement", "corner"], "--placement"),
        (["--track-loss", "-1"], "--track-loss"),
        (["--track-max-t", "1000"], "--track-max-t"),
        (["--clip-t-focus", "850", "600", "0.5"], "--clip-t-focus"),
        (["--word-contrast", "-1"], "--word-contrast"),
        (["--motion-only", "--direction-probe", "0.1"], "--motion-only"),
        (["--word-contrast", "1", "--track-loss", "0"], "--word-contrast needs --track-loss"),
        (["--clip-t-focus", "600", "1000", "0.5"], "--clip-t-focus"),
        (["--clip-t-focus", "600.5", "850", "0.5"], "--clip-t-focus"),
        (["--clip-t-focus", "600", "850", "1.5"], "--clip-t-focus"),
        (["--frame-noise", "1.5"], "--frame-noise"),
        (["--frame-noise", "nan"], "--frame-noise"),
    ],
)
def test_bad_t2v_arguments(tmp_path, vae_dir, extra, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(
            ["t2v", "--out", str(tmp_path), "--vae", str(vae_dir), "--steps", "8", "--image-steps", "2", *extra]
        )
    assert message in capsys.readouterr().err


def test_t2v_needs_a_trained_autoencoder_and_a_real_init_folder(tmp_path, vae_dir, capsys):
    with pytest.raises(SystemExit):
        parse_args(["t2v", "--out", str(tmp_path), "--vae", str(tmp_path / "none")])
    assert "python -m plugdiff.shapesworld.train vae" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["t2v", "--out", str(tmp_path), "--vae", str(vae_dir), "--init", str(tmp_path)])
    assert "not an exported t2v folder" in capsys.readouterr().err


def test_track_displacement_reads_the_motion_of_rendered_clips():
    """On rendered clips (pixels standing in for latents) the object-mass centroid moves by the
    clip's path; the loss is zero when the noise prediction is exact, and grows with a wrong drift."""
    from plugdiff.shapesworld.track_loss import track_displacement, track_loss
    from plugdiff.shapesworld.world import DIRECTIONS, random_spec, render_clip

    g = torch.Generator().manual_seed(0)
    for direction in DIRECTIONS:
        spec = random_spec(g, directions=[direction], include_held_out=True, num_frames=16, placement="centred")
        clip = render_clip(spec, 16).transpose(0, 1)[None].double()  # (1, 3, F, H, W)
        ((dx, dy),) = track_displacement(clip).tolist()
        vx, vy = spec.velocity()
        assert abs(dx - 15 * vx) < 0.3 and abs(dy - 15 * vy) < 0.3, (direction, dx, dy)
    z0 = torch.randn(3, 4, 8, 8, 8, generator=g)
    noise = torch.randn(z0.shape, generator=g)
    abar = torch.linspace(0.99, 0.001, 1000)
    t = torch.tensor([100, 500, 900])
    noisy = abar[t].sqrt().view(-1, 1, 1, 1, 1) * z0 + (1 - abar[t]).sqrt().view(-1, 1, 1, 1, 1) * noise
    everyone = torch.ones(3, dtype=torch.bool)
    z0 = z0.clamp(-5, 5)
    assert float(track_loss(z0, noisy, t, noise, abar, everyone)) < 1e-10
    wrong = noise + 0.3 * torch.randn(z0.shape, generator=g)
    assert float(track_loss(z0, noisy, t, wrong, abar, everyone)) > 0
    assert float(track_loss(z0, noisy, t, wrong, abar, torch.zeros(3, dtype=torch.bool))) == 0


def test_periodic_track_displacement_follows_objects_across_the_edge():
    """v5's clips wrap: the plain centroid of an object crossing an edge jumps by up to a frame
    width and gives some movers the opposite drift; the circular-mean track reads every one of
    them (20 wrapping movers, pixels standing in for latents)."""
    from plugdiff.shapesworld.track_loss import track_displacement
    from plugdiff.shapesworld.world import DIRECTIONS, random_spec, render_clip

    g = torch.Generator().manual_seed(1)
    movers = [d for d in DIRECTIONS if d != "still"]
    wrong_sign = 0
    for k in range(20):
        spec = random_spec(g, directions=[movers[k % 4]], include_held_out=True, num_frames=16, wrap=True)
        clip = render_clip(spec, 16).transpose(0, 1)[None].double()
        truth = torch.tensor(spec.velocity(), dtype=torch.float64) * 15
        ((dx, dy),) = track_displacement(clip, periodic=True).tolist()
        assert abs(dx - truth[0]) < 0.5 and abs(dy - truth[1]) < 0.5, (spec, dx, dy)
        wrong_sign += float(track_displacement(clip)[0] @ truth) <= 0
    assert wrong_sign >= 3  # the plain centroid is what this fixes
    # a clip that does not cross an edge reads the same either way
    spec = random_spec(g, directions=["right"], include_held_out=True, num_frames=16, placement="centred")
    clip = render_clip(spec, 16).transpose(0, 1)[None].double()
    assert torch.allclose(track_displacement(clip, periodic=True), track_displacement(clip), atol=0.3)


def test_v5_shares_set_the_pool_s_mixes(tmp_path, vae_dir, capsys):
    """--v5-shares 0 0 trains on wrapping, shaded clips with pure captions only; bad shares, or
    shares without world v5, are refused by name."""
    trainer = _t2v(tmp_path / "v5", vae_dir, 2, "--world", "v5", "--pool-clips", "16", "--v5-shares", "0", "0")
    assert not trainer.mix_weights.any() and torch.equal(trainer.mix_ids, trainer.input_ids)
    for bad in (["--world", "v5", "--v5-shares", "0.8", "0.3"], ["--v5-shares", "0", "0"]):
        with pytest.raises(SystemExit):
            parse_args(["t2v", "--out", str(tmp_path), "--vae", str(vae_dir), *bad])
        assert "--v5-shares" in capsys.readouterr().err


def test_v5_centred_share_reaches_the_pool_s_world_and_bad_shares_are_refused(tmp_path, vae_dir, capsys):
    base = ["t2v", "--out", str(tmp_path), "--vae", str(vae_dir)]
    args = parse_args([*base, "--world", "v5", "--v5-centred", "0.5"])
    world = TRAINERS["t2v"]._world(SimpleNamespace(args=args))
    assert world["centred_share"] == 0.5 and world["world"] == "v5"
    for bad in (["--world", "v5", "--v5-centred", "1.5"], ["--v5-centred", "0.5"]):
        with pytest.raises(SystemExit):
            parse_args([*base, *bad])
        assert "--v5-centred" in capsys.readouterr().err


def test_v5_text_condition_is_the_per_frame_mix_of_the_two_captions(tmp_path, vae_dir):
    trainer = _t2v(tmp_path / "v5", vae_dir, 2, "--world", "v5", "--pool-clips", "16")
    mixed = trainer.mix_weights.sum(1) > 0
    assert mixed.any() and (~mixed).any()  # the pool holds clips with and without a mix
    ids, other, weights = trainer.input_ids[:4], trainer.mix_ids[:4], trainer.mix_weights[:4]
    with torch.no_grad():
        text = trainer._text((ids, other, weights)).unflatten(0, weights.shape)  # (B, F, L, D)
        a, b = trainer.models["text_encoder"](ids)[0], trainer.models["text_encoder"](other)[0]
    for i in range(4):
        for f in range(weights.shape[1]):
            w = float(weights[i, f])
            torch.testing.assert_close(text[i, f], (1 - w) * a[i] + w * b[i], rtol=0, atol=1e-6)
        if not mixed[i]:
            assert torch.equal(other[i], ids[i])


def test_periodic_track_loss_reads_a_prediction_with_no_object_as_no_motion():
    """Read around the training clip's track, a prediction with no object (a uniform latent, or
    pure noise) must not pass for the training clip's motion: it reads as no drift and pays the
    whole displacement; a prediction moving the other way pays more."""
    from plugdiff.shapesworld.track_loss import circular_track, track_displacement, track_loss
    from plugdiff.shapesworld.world import random_spec, render_clip

    g = torch.Generator().manual_seed(2)
    spec = random_spec(g, directions=["right"], include_held_out=True, num_frames=16, wrap=True)
    clip = render_clip(spec, 16).transpose(0, 1)[None].double()  # (1, 3, F, H, W)
    around = circular_track(clip)
    ((dx, _),) = track_displacement(clip, periodic=True, around=around).tolist()
    assert dx > 8  # the clip's own motion
    flat = torch.zeros_like(clip)
    assert abs(float(track_displacement(flat, periodic=True, around=around)[0, 0])) < 1e-6
    noise = torch.randn(clip.shape, generator=g, dtype=torch.float64)
    assert abs(float(track_displacement(noise, periodic=True, around=around)[0, 0])) < 0.25 * dx
    backwards = clip.flip(2)  # the same frames in reverse: moving left
    assert float(track_displacement(backwards, periodic=True, around=around)[0, 0]) < -8

    abar = torch.full((1000,), 0.5, dtype=torch.float64)
    t, everyone = torch.tensor([100]), torch.ones(1, dtype=torch.bool)
    eps = torch.zeros_like(clip)
    loss = lambda z0_hat: float(track_loss(clip, z0_hat * abar[0].sqrt(), t, eps, abar, everyone, periodic=True))
    assert loss(clip) < 1e-10 and loss(flat) > 0.5 * dx**2 / 32**2 and loss(backwards) > 2 * loss(flat)
    assert loss(flat) > 0 and track_loss(clip, flat, t, eps, abar, everyone, periodic=True, max_t=99) == 0
