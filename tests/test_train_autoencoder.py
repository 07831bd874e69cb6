"""The frame autoencoder's training: world v5 frames, and a decoder-only fine-tune that keeps the
encoder (and so every latent a text-to-video model was trained on) bit for bit."""

import json

import pytest
import torch
from safetensors.torch import load_file

from plugdiff.shapesworld.train import main
from plugdiff.shapesworld.world import sample_frames

WEIGHTS = "diffusion_pytorch_model.safetensors"


def _vae(out, steps, *extra):
    return main(
        ["vae", "--out", str(out), "--steps", str(steps), "--batch", "2", "--size", "16", "--checkpoint-every", "2"]
        + list(extra)
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    _vae(out, 2)
    return out


def test_decoder_only_changes_the_decoder_alone_and_keeps_the_scaling_factor(base, tmp_path):
    _vae(tmp_path, 2, "--init", str(base), "--decoder-only", "--world", "v5", "--lr", "1e-2")
    before, after = load_file(str(base / WEIGHTS)), load_file(str(tmp_path / WEIGHTS))
    assert before.keys() == after.keys()
    decoder = {k for k in before if k.startswith(("decoder.", "post_quant_conv."))}
    assert decoder and all(torch.equal(before[k], after[k]) for k in before if k not in decoder)
    assert any(not torch.equal(before[k], after[k]) for k in decoder)
    scale = [json.loads((folder / "config.json").read_text())["scaling_factor"] for folder in (base, tmp_path)]
    assert scale[0] == scale[1]


def test_a_full_fine_tune_from_init_moves_the_encoder(base, tmp_path):
    _vae(tmp_path, 2, "--init", str(base), "--world", "v5", "--lr", "1e-2")
    before, after = load_file(str(base / WEIGHTS)), load_file(str(tmp_path / WEIGHTS))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))


def test_the_world_decides_the_training_frames(base, tmp_path):
    trainer = _vae(tmp_path, 2, "--init", str(base), "--decoder-only", "--world", "v5")
    want = sample_frames(3, torch.Generator().manual_seed(9), size=16, world="v5")[0]
    torch.testing.assert_close(trainer._frames(3, torch.Generator().manual_seed(9)), want, rtol=0, atol=0)
    v4 = sample_frames(3, torch.Generator().manual_seed(9), size=16)[0]
    assert not torch.equal(want, v4)


def test_latent_noise_adds_noise_of_its_std_in_scaled_units_to_what_the_decoder_sees(base, tmp_path, monkeypatch):
    from diffusers import AutoencoderKL

    seen = []
    decode = AutoencoderKL.decode

    def spy(self, z, *args, **kwargs):
        seen.append((z.detach().clone(), self.config.scaling_factor))
        return decode(self, z, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "decode", spy)
    _vae(tmp_path / "a", 1, "--init", str(base), "--decoder-only", "--checkpoint-every", "5")
    clean, scale = seen[0]
    seen.clear()
    _vae(tmp_path / "b", 1, "--init", str(base), "--decoder-only", "--latent-noise", "3", "--checkpoint-every", "5")
    eps = (seen[0][0] - clean) / (3 / scale)
    assert eps.abs().max() > 0
    assert abs(float(eps.std()) - 1) < 0.3 and abs(float(eps.mean())) < 0.3


def test_bad_options_are_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _vae(tmp_path / "a", 2, "--decoder-only")
    assert "--decoder-only goes with --init" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _vae(tmp_path / "b", 2, "--init", str(tmp_path))
    assert "not an exported autoencoder folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _vae(tmp_path / "c", 2, "--world", "v9")
    assert "--world" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _vae(tmp_path / "d", 2, "--latent-noise", "0.1")
    assert "--latent-noise goes with --decoder-only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _vae(tmp_path / "e", 2, "--init", str(tmp_path), "--decoder-only", "--latent-noise", "-1")
    assert "--latent-noise must be a finite number >= 0" in capsys.readouterr().err
