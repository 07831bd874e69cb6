"""Offline means no network at all: loading a hub id without allow_download opens no
connection, not even the ones huggingface_hub makes on its own."""

import socket

import pytest

from plugdiff.weights import ModelNotFoundError, load_pipeline


def test_a_hub_id_without_allow_download_makes_no_network_attempt(tmp_path, monkeypatch):
    import huggingface_hub.utils._detect_agent as detect_agent
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as on a user's machine
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "registry.json"))  # nothing cached
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(detect_agent, "_registry", None, raising=False)
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelNotFoundError, match="downloads are off"):
        load_pipeline("someorg/somerepo")
    assert attempts == []
    assert constants.HF_HUB_OFFLINE is False  # restored after the call
