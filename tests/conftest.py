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


# End-to-end tests of 9-45 s each on 2 idle cores (pytest --durations, 2026-12-06): together about
# 270 of the suite's 585 s. They carry the `heavy` mark: CI runs them (-m 'not slow'), the default
# run leaves them out so that it stays under 6 minutes.
HEAVY = {
    "test_benchmark_smoke.py::test_inverse_problems_benchmark_quick_run",
    "test_benchmark_smoke.py::test_long_video_benchmark_quick_run",
    "test_benchmark_smoke.py::test_long_video_benchmark_compares_promptblend_with_linear_on_each_host",
    "test_benchmark_smoke.py::test_long_video_memory_runs_each_host_and_length_in_its_own_process",
    "test_benchmark_smoke.py::test_inverse_problems_benchmark_runs_daps_and_each_methods_own_default_budget",
    "test_benchmark_smoke.py::test_tiara_overhead_benchmark_quick_run",
    "test_benchmark_smoke.py::test_direction_settling_benchmark_quick_run",
    "test_benchmark_smoke.py::test_shapesworld_v5_benchmark_quick_run",
    "test_benchmark_smoke.py::test_shapesworld_decoders_compares_decoders_of_one_encoder",
    "test_train_t2v.py::test_export_is_an_animatediff_folder_that_diffusers_and_plugdiff_load",
    "test_docs.py::test_every_python_snippet_runs[shapesworld.md]",
    "test_docs.py::test_every_python_snippet_runs[inverse-problems.md]",
    "test_gradio_app.py::test_real_browser_keeps_errors_by_their_input_generates_a_playable_video_and_restores",
    "test_gradio_app.py::test_every_endpoint_through_gradio_client",
    "test_gradio_app.py::test_restore_action_on_an_example_and_an_upload",
    "test_render_cli.py::test_two_processes_render_each_job_exactly_once",
    "test_examples.py::test_readme_main_command_on_the_bundled_model",
    "test_demo_limits.py::test_the_demo_cleans_up_on_sigterm_as_on_sigint",
    "test_first_minutes.py::test_a_default_video_run_prints_no_library_warning",
    "test_first_minutes.py::test_a_default_restore_run_prints_no_library_warning",
}


def pytest_collection_modifyitems(config, items):
    """Mark the tests named in HEAVY (by file and test id)."""
    for item in items:
        if f"{item.path.name}::{item.name}" in HEAVY:
            item.add_marker(pytest.mark.heavy)
