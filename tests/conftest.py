import os
from pathlib import Path

import pytest

# Tests never reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the web UI tests: no calls home
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


@pytest.fixture
def examples_dir() -> Path:
    """The repository's examples/ folder (job files, schedules, images)."""
    return Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def one_thread():
    """torch on one intra-op thread for a module's tests, restored afterwards: for modules of tiny
    tensors, where more threads only add overhead (with a busy second core MKL's FFT even waits
    ~8 ms per call for one). A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch  # here: the torch-free tests need none

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
