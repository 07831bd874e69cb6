"""The docs say only what exists: every repository path and command that README.md and docs/*.md
name is there, every link resolves, and every Python snippet runs as written.

Snippets of one page run in order in one namespace (a later snippet may use an earlier one's
``pipe``). A snippet that names a checkpoint the reader has but this machine has not
("path/to/...") gets a tiny model of the same class, saved to a folder: the one map from
placeholder to stand-in is ``PLACEHOLDERS``.
"""

import re
import shlex
from pathlib import Path

import pytest
import torch
from diffusers import AnimateDiffPipeline, DDIMScheduler, DDPMPipeline, DDPMScheduler, StableDiffusionPipeline

from plugdiff.apps.cli import build_parser
from plugdiff.testing import animatediff_components, autoencoder, text_components, tiny_unet2d, unet2d_condition

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP_LEVEL = ("plugdiff/", "benchmarks/", "examples/", "tests/", "docs/", ".ci/")
CHECKED = ("plugdiff", "python", "accelerate", "torchrun")  # commands checked against the project
SHELL_WORDS = (*CHECKED, "pip", "bash", "apt-get", "cd", "git")


def _tiny_ddpm(folder: Path) -> None:
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)


def _tiny_animatediff(folder: Path) -> None:
    AnimateDiffPipeline(**animatediff_components()).save_pretrained(folder)


def _tiny_stable_diffusion(folder: Path) -> None:
    pipe = StableDiffusionPipeline(
        unet=unet2d_condition(),
        vae=autoencoder(),
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        **text_components(),
    )
    pipe.save_pretrained(folder)


PLACEHOLDERS = {  # what a snippet names -> how to build a stand-in folder for it
    "path/to/ddpm-celebahq-256": _tiny_ddpm,
    "path/to/animatediff-pipeline": _tiny_animatediff,
    "path/to/stable-diffusion-v1-5": _tiny_stable_diffusion,
}


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The page without its fenced code blocks."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _expand(path: str) -> list[str]:
    """``a.{json,png}`` -> ``a.json``, ``a.png``."""
    match = re.search(r"\{([^}]*)\}", path)
    if not match:
        return [path]
    return [p for alt in match.group(1).split(",") for p in _expand(path[: match.start()] + alt + path[match.end() :])]


def repository_paths(text: str) -> set[str]:
    """Backticked paths under the project's top-level folders."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text):
        span = span.rstrip(".,:;")
        if span.startswith(TOP_LEVEL) and "/" in span:
            found.update(_expand(span))
    return found


def links(text: str) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)\s]+)\)", _prose(text)) if not re.match(r"[a-z]+://", m)]


def commands(text: str) -> list[str]:
    """Shell lines of fenced bash blocks and indented blocks, continuation lines joined,
    comments dropped, split on ``&&``."""
    fenced = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    indented = re.findall(r"(?:^|\n\n)((?:    .*\n?)+)", _prose(text))
    out = []
    for block, every_line in [(b, True) for b in fenced] + [(b, False) for b in indented]:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip())
            if line and (every_line or line.split()[0] in SHELL_WORDS):  # an indented block may be a tree
                out += [part.strip() for part in line.split("&&") if part.strip()]
    return out


def snippets(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_the_page_names_exists(page):
    missing = [p for p in sorted(repository_paths(_text(page))) if not list(ROOT.glob(p))]
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    for link in links(_text(page)):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: link to a missing file: {link}"
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", _prose(_text(path)), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"{page.name}: no heading for #{anchor} in {path.name}"


def _flags(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("--")]


def _check_command(words: list[str]) -> None:
    """A plugdiff command parses; a script or module exists and knows each flag given to it."""
    if words[0] == "plugdiff":
        parser = build_parser()
        parser.exit = lambda status=0, message=None: (_ for _ in ()).throw(AssertionError(message))
        parser.error = lambda message: (_ for _ in ()).throw(AssertionError(message))
        for action in parser._subparsers._group_actions[0].choices.values():  # subcommands too
            action.error = parser.error
        parser.parse_args(words[1:])
        return
    if words[0] in ("accelerate", "torchrun"):
        module = words[words.index("-m") + 1]
        assert module == "plugdiff", words
        _check_command(["plugdiff", *words[words.index("-m") + 2 :]])
        return
    if words[0] == "python":
        if words[1] == "-m":
            if words[2] == "pytest":
                return
            import importlib.util

            spec = importlib.util.find_spec(words[2])
            assert spec is not None, f"no module {words[2]}"
            source = Path(spec.origin).read_text()
            rest = words[3:]
        else:
            script = ROOT / words[1]
            assert script.is_file(), f"no script {words[1]}"
            source, rest = script.read_text(), words[2:]
            if "published_results.parse_args(" in source:  # the shared --publish flag
                source += (ROOT / "benchmarks" / "published_results.py").read_text()
        for flag in _flags(rest):
            assert f'"{flag}"' in source, f"{' '.join(words[:3])} has no flag {flag}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_the_page_gives_exists(page):
    checked = 0
    for line in commands(_text(page)):
        words = shlex.split(line)
        if words[0] in CHECKED:
            _check_command(words)
            checked += 1
        else:
            assert words[0] in SHELL_WORDS, f"{page.name}: unknown command {line!r}"
    if page.name == "README.md":
        assert checked >= 3  # the main job, the tests, the web UI


@pytest.fixture(scope="module")
def placeholder_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("placeholders")
    folders = {}
    for name, build in PLACEHOLDERS.items():
        folders[name] = root / Path(name).name
        build(folders[name])
    return folders


# long-video.md's snippets render 48-frame videos with FIFO, FreeLong, TiARA and PromptBlend: about
# 2.5 minutes on a 2-core CPU, so they run with -m slow (the same paths have fast tests of their own:
# test_fifo, test_long_video_hosts, test_promptblend_pipeline)
SLOW_SNIPPET_PAGES = ("long-video.md",)


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_SNIPPET_PAGES else p
        for p in PAGES
        if snippets(_text(p))
    ],
    ids=lambda p: p.name,
)
def test_every_python_snippet_runs(page, placeholder_folders, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict = {"__name__": "__docs__"}
    for code in snippets(_text(page)):
        for name, folder in placeholder_folders.items():
            code = code.replace(f'"{name}"', repr(str(folder)))
        assert "path/to/" not in code, f"{page.name}: a placeholder without a stand-in in PLACEHOLDERS"
        torch.manual_seed(0)
        exec(compile(code, f"{page.name} snippet", "exec"), namespace)


def test_the_commands_and_paths_are_found():
    """The extractors see what the pages hold (so the tests above are not vacuous)."""
    readme = _text(ROOT / "README.md")
    assert any(c.startswith("plugdiff video --schedule examples/schedules/shapesworld.txt") for c in commands(readme))
    assert "examples/schedules/shapesworld.txt" in repository_paths(readme)
    assert "docs/architecture.md" in links(readme)
    assert sum(len(snippets(_text(p))) for p in PAGES) >= 6
    with pytest.raises(AssertionError):
        _check_command(["plugdiff", "video", "--no-such-flag"])
    with pytest.raises(AssertionError):
        _check_command(["python", "benchmarks/no_such_script.py"])
