import os
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the web UI tests: no calls home
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def examples_dir() -> Path:
    """The repository's examples/ folder (job files, schedules, images)."""
    return Path(__file__).resolve().parents[1] / "examples"
