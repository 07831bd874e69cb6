import json

import pytest

from plugdiff import __version__
from plugdiff.apps.cli import main


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plugdiff"] == __version__ and report["torch"]
    assert "plugdiff.samplers:AcceleratedDDIMScheduler" in report["components"]["schedulers"]


def test_info_text_and_version(capsys):
    assert main(["info"]) == 0
    assert "AcceleratedDDPMScheduler" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["render-everything"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def _fake_cache_entry(cache, repo_id: str, filename: str) -> None:
    """The layout huggingface_hub's cache uses for one file of one repo at ``main``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / filename).write_text("{}")


def test_is_available_reads_bundled_folders_and_the_hub_cache(tmp_path):
    from plugdiff.weights import is_available

    assert is_available("shapesworld-t2v", cache_dir=tmp_path) and is_available("shapesworld-ddpm", cache_dir=tmp_path)
    assert not is_available("ddpm-celebahq-256", cache_dir=tmp_path)
    _fake_cache_entry(tmp_path, "google/ddpm-celebahq-256", "model_index.json")
    assert is_available("ddpm-celebahq-256", cache_dir=tmp_path)
    # a motion adapter needs both its own repo and the base pipeline's
    _fake_cache_entry(tmp_path, "guoyww/animatediff-motion-adapter-v1-5-2", "config.json")
    assert not is_available("animatediff-sd15", cache_dir=tmp_path)
    _fake_cache_entry(tmp_path, "stable-diffusion-v1-5/stable-diffusion-v1-5", "model_index.json")
    assert is_available("animatediff-sd15", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown registry name 'nope'"):
        is_available("nope")


def test_models_command_lists_the_registry(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))  # an empty cache
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"shapesworld-t2v", "shapesworld-ddpm", "animatediff-sd15", "ddpm-celebahq-256"}
    assert rows["shapesworld-ddpm"]["available"] and rows["shapesworld-ddpm"]["get_it"] is None
    assert (
        not rows["ddpm-celebahq-256"]["available"]
        and "hf download google/ddpm-celebahq-256" in rows["ddpm-celebahq-256"]["get_it"]
    )
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "shapesworld-t2v    available" in text and "get it: hf download guoyww/" in text


def test_demo_command_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0 and "--image-model" in text and "--queue-size" in text


def test_demo_without_gradio_says_what_to_install(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio":
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert main(["demo"]) == 2
    assert "pip install 'plugdiff[ui]'" in capsys.readouterr().err


def test_demo_on_a_busy_port_says_which_and_how(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port} on 127.0.0.1 is in use" in err and "--port" in err


def test_demo_listens_where_the_flags_or_gradio_variables_say(monkeypatch, capsys):
    from plugdiff.apps.cli import build_parser
    from plugdiff.apps.gradio_app import ServerAddressError, server_address

    def address(*flags):
        return server_address(build_parser().parse_args(["demo", *flags]))

    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    assert address() == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert address() == ("0.0.0.0", 8123)
    assert address("--host", "127.0.0.1", "--port", "9000") == ("127.0.0.1", 9000)
    with pytest.raises(ServerAddressError, match="--port: must be a port number from 1 to 65535, got '70000'"):
        address("--port", "70000")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "web")
    assert main(["demo"]) == 2  # before gradio is imported (gradio itself fails on this value)
    assert "GRADIO_SERVER_PORT: must be a port number from 1 to 65535, got 'web'" in capsys.readouterr().err
