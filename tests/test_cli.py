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
