"""The direction probe: an auxiliary loss that carries the caption's direction word into the
features the motion modules read (plugdiff.shapesworld.direction_probe)."""

import torch
from diffusers import UNetMotionModel
from safetensors.torch import load_file

from plugdiff.shapesworld.direction_probe import DirectionProbe
from plugdiff.shapesworld.models import motion_adapter, text_to_video_unet
from plugdiff.shapesworld.train import main
from plugdiff.shapesworld.world import DIRECTIONS


def _unet():
    torch.manual_seed(0)
    return UNetMotionModel.from_unet2d(text_to_video_unet(), motion_adapter())


def _pooled_outputs(unet, x, t, text):
    """The naive reference: run the model with plain hooks that keep every probed output."""
    kept = []
    handles = [
        block.attentions[-1].register_forward_hook(lambda m, a, out: kept.append(out[0].mean(dim=(2, 3))))
        for block in unet.down_blocks
    ]
    unet(x, t, text)
    for h in handles:
        h.remove()
    return kept


def test_probe_loss_is_the_cross_entropy_of_each_head_on_the_spatially_pooled_features():
    unet = _unet()
    probe = DirectionProbe(unet)
    assert [h.out_features for h in probe.heads] == [len(DIRECTIONS)] * 2
    x, t, text = torch.randn(3, 4, 2, 8, 8), torch.tensor([5, 500, 900]), torch.randn(6, 16, 64)
    pooled = _pooled_outputs(unet, x, t, text)
    probe.attach(unet)
    unet(x, t, text)
    directions, captioned = torch.tensor([0, 3, 4]), torch.tensor([True, False, True])
    got = probe.loss(directions, frames=2, captioned=captioned)
    keep = torch.tensor([0, 1, 4, 5])  # frames of samples 0 and 2
    target = torch.tensor([0, 0, 4, 4])
    want = torch.stack(
        [torch.nn.functional.cross_entropy(h(f[keep]), target) for h, f in zip(probe.heads, pooled, strict=True)]
    ).mean()
    assert torch.allclose(got, want, atol=1e-6)
    got.backward()  # the gradient reaches the spatial cross-attention that writes the features
    assert unet.down_blocks[0].attentions[0].transformer_blocks[0].attn2.to_v.weight.grad.abs().sum() > 0


def test_probe_keeps_nothing_without_gradients_and_skips_empty_prompts():
    unet = _unet()
    probe = DirectionProbe(unet)
    probe.attach(unet)
    x, t, text = torch.randn(1, 4, 2, 8, 8), torch.tensor([5]), torch.randn(2, 16, 64)
    with torch.no_grad():  # sampling: nothing is kept
        unet(x, t, text)
    assert probe._features == []
    unet(x, t, text)
    loss = probe.loss(torch.tensor([1]), frames=2, captioned=torch.tensor([False]))
    assert float(loss.detach()) == 0.0 and probe._features == []


def test_training_with_the_probe_trains_its_heads_and_does_not_export_them(tmp_path):
    vae = tmp_path / "vae"
    main(["vae", "--out", str(vae), "--steps", "1", "--batch", "2", "--size", "16", "--checkpoint-every", "1"])
    common = [
        "t2v",
        "--vae",
        str(vae),
        "--image-steps",
        "1",
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
        "--image-mix",
        "2",
    ]
    plain = main([*common, "--out", str(tmp_path / "plain"), "--steps", "2"])
    probed = main([*common, "--out", str(tmp_path / "probed"), "--steps", "2", "--direction-probe", "0.5"])
    assert probed.losses[0] > plain.losses[0]  # the same batch, plus 0.5 * a cross-entropy near log 5
    heads = probed.models["direction_probe"].heads
    assert all(h.weight.grad is not None for h in heads)
    saved = load_file(str(tmp_path / "probed" / "unet" / "diffusion_pytorch_model.safetensors"))
    plain_keys = load_file(str(tmp_path / "plain" / "unet" / "diffusion_pytorch_model.safetensors")).keys()
    assert saved.keys() == plain_keys
    resumed = main(
        [*common, "--out", str(tmp_path / "probed"), "--steps", "4", "--direction-probe", "0.5", "--resume"]
    )
    assert len(resumed.losses) == 4
