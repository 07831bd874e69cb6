"""load_pipeline: registry names, local folders and hub ids, offline, safetensors only."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler

from plugdiff.pipelines import DPnPPipeline, TiaraAnimateDiffPipeline
from plugdiff.testing import animatediff_components, tiny_unet2d
from plugdiff.weights import (
    REGISTRY,
    ModelNotFoundError,
    ModelSpec,
    load_pipeline,
    registry,
)


@pytest.fixture(scope="module")
def ddpm_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddpm")
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(folder, safe_serialization=True)
    return folder


def test_registry_lists_the_bundled_and_hub_models():
    assert set(REGISTRY) >= {"shapesworld-t2v", "shapesworld-ddpm", "animatediff-sd15", "ddpm-celebahq-256"}
    assert all(isinstance(spec, ModelSpec) and spec.kind in ("t2v", "image") for spec in REGISTRY.values())
    assert (
        REGISTRY["shapesworld-t2v"].source == "bundled"
        and REGISTRY["shapesworld-t2v"].pipeline == "TiaraAnimateDiffPipeline"
    )
    assert REGISTRY["ddpm-celebahq-256"].source == "google/ddpm-celebahq-256"


def test_animatediff_folder_round_trips_as_tiara(tmp_path):
    original = TiaraAnimateDiffPipeline(**animatediff_components())
    original.save_pretrained(tmp_path / "t2v", safe_serialization=True)
    index = json.loads((tmp_path / "t2v" / "model_index.json").read_text())
    index["_class_name"] = "AnimateDiffPipeline"  # a plain diffusers AnimateDiff folder also becomes Tiara
    (tmp_path / "t2v" / "model_index.json").write_text(json.dumps(index))

    pipe = load_pipeline(tmp_path / "t2v")
    assert type(pipe) is TiaraAnimateDiffPipeline
    for a, b in zip(original.unet.parameters(), pipe.unet.parameters(), strict=True):
        assert torch.equal(a, b)


def test_ddpm_folder_class_from_index_and_override(ddpm_dir):
    pipe = load_pipeline(str(ddpm_dir))
    assert type(pipe) is DDPMPipeline
    assert torch.equal(pipe.unet.conv_in.weight, tiny_unet2d().conv_in.weight)
    assert type(load_pipeline(ddpm_dir, pipeline_cls=DPnPPipeline)) is DPnPPipeline
    assert type(load_pipeline(ddpm_dir, pipeline_cls="DPSPipeline")).__name__ == "DPSPipeline"


def test_bundled_model_loads_from_the_bundled_root(ddpm_dir, monkeypatch):
    monkeypatch.setattr(registry, "BUNDLED_ROOT", ddpm_dir.parent)
    monkeypatch.setitem(
        REGISTRY, ddpm_dir.name, ModelSpec(ddpm_dir.name, "image", "bundled", "DDPMPipeline", "test", "train it")
    )
    assert type(load_pipeline(ddpm_dir.name)) is DDPMPipeline


def test_bundled_model_missing_names_the_train_command(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BUNDLED_ROOT", tmp_path)
    with pytest.raises(ModelNotFoundError, match="not installed") as err:
        load_pipeline("shapesworld-t2v")
    folder = tmp_path / "shapesworld-t2v"
    assert f"python -m plugdiff.shapesworld.train t2v --vae {folder}-vae --out {folder}" in str(err.value)
    with pytest.raises(ModelNotFoundError, match="python -m plugdiff.shapesworld.train ddpm --out"):
        load_pipeline("shapesworld-ddpm")


def test_unknown_name_lists_the_registry():
    with pytest.raises(ValueError, match="shapesworld-t2v") as err:
        load_pipeline("shapeworld-t2v")
    assert "did you mean 'shapesworld-t2v'" in str(err.value) and "ddpm-celebahq-256" in str(err.value)


def test_missing_local_dir(tmp_path):
    for path in (str(tmp_path / "nowhere"), "./no-such-model", "~/no-such-model-xyz", "a/b/c"):
        with pytest.raises(ModelNotFoundError, match="no such directory"):
            load_pipeline(path)


def test_hub_id_offline_says_what_to_download():
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline("someone/not-cached-model")
    message = str(err.value)
    assert "hf download someone/not-cached-model --local-dir models/not-cached-model" in message
    assert "allow_download=True" in message
    with pytest.raises(ModelNotFoundError, match="hf download google/ddpm-celebahq-256"):
        load_pipeline("ddpm-celebahq-256")
    with pytest.raises(ModelNotFoundError, match="hf download guoyww/animatediff-motion-adapter-v1-5-2"):
        load_pipeline("animatediff-sd15")


def test_folder_without_model_index(tmp_path):
    tiny_unet2d().save_pretrained(tmp_path / "unet_only")
    with pytest.raises(ModelNotFoundError, match="no model_index.json"):
        load_pipeline(tmp_path / "unet_only")
    with pytest.raises(ModelNotFoundError, match="no model_index.json"):
        load_pipeline(tmp_path / "unet_only", pipeline_cls=DDPMPipeline)


def test_unsupported_class_name(ddpm_dir, tmp_path):
    folder = tmp_path / "sd"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(
        ModelNotFoundError, match="'StableDiffusionPipeline'.*Supported: AnimateDiffPipeline, DDPMPipeline"
    ):
        load_pipeline(folder)


def test_pickle_only_folder_is_refused(tmp_path):
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(
        tmp_path / "old", safe_serialization=False
    )
    assert (tmp_path / "old" / "unet" / "diffusion_pytorch_model.bin").is_file()
    with pytest.raises(ModelNotFoundError, match=r"pickle weights only \(unet/diffusion_pytorch_model.bin\)"):
        load_pipeline(tmp_path / "old")
    with pytest.raises(ModelNotFoundError, match="pickle weights only"):
        load_pipeline(tmp_path / "old", pipeline_cls=DPnPPipeline)


def test_remote_code_and_pickle_are_never_requested(ddpm_dir):
    with pytest.raises(ValueError, match="remote code"):
        load_pipeline(ddpm_dir, trust_remote_code=True)
    with pytest.raises(ValueError, match="safetensors only"):
        load_pipeline(ddpm_dir, use_safetensors=False)
