"""The plugdiff web UI (``plugdiff demo`` or ``python -m plugdiff.apps.gradio_app``): a Gradio
Blocks app with three tabs over :class:`~plugdiff.apps.demo_actions.DemoSession`:

* Long video: prompt schedule, windows, TiARA, PromptBlend, sampler; MP4 + GIF + settings, and
  optionally the same seed with TiARA off beside it.
* Restore: an upload or a bundled example, an operator, DPnP or DPS; clean, measurement,
  posterior mean, samples and the per-pixel std.
* Samplers: one seed, several schedulers at the same number of steps on the image prior.

Layout only: one function per tab; every button calls a DemoSession action with its inputs by
name. An input error is shown under the input of the setting it concerns (its ``field``) and
stays there until that input changes; API callers get it as the call's error. An upload's size
is checked from its header before gradio or PIL decodes it. The app keeps gradio's cache in a
folder of its own and removes it, and its working folder, when it stops (Ctrl-C or SIGTERM
alike). Needs the ``ui`` extra (``pip install 'plugdiff[ui]'``).
"""

import argparse
import atexit
import errno
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..attention_processors.tiara_settings import TiaraSettings
from ..pipelines.animatediff.hosts import HOSTS, WindowSettings
from ..samplers import SCHEDULERS
from .restore import OPERATORS
from .third_party_logs import hide_unactionable_messages
from .ui_messages import CSS, InputMessages

DEFAULT_SCHEDULE = [
    [0, "a red circle moving right on a white background"],
    [16, "a blue circle moving right on a white background"],
]
MAX_FILE_SIZE = "10mb"
CACHE_LIFETIME = (600, 3600)
"""gradio's delete_cache: every 10 minutes, files older than an hour are removed from its cache
(and all of them when the app closes)."""
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860

if TYPE_CHECKING:  # the demo's models and torch load when it starts, not with `plugdiff --help`
    from .demo_actions import DemoSession


def build_demo(session: "DemoSession"):
    """The gr.Blocks app; endpoints ``/video``, ``/restore`` and ``/samplers``."""
    import gradio as gr

    errors = ErrorRelay()
    with gr.Blocks(title="plugdiff", delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown(
            "# plugdiff\nTraining-free diffusion methods on "
            f"`{session.video_model}` (video) and `{session.image_model}` (image prior)."
        )
        with gr.Tab("Long video"):
            video_tab(session, errors)
        with gr.Tab("Restore"):
            restore_tab(session, errors)
        with gr.Tab("Samplers"):
            samplers_tab(session, errors)
    return demo


class ErrorRelay:
    """Carries an action's input error to the page: the call fails with the message (what an API
    caller gets), then the tab's failure handler shows the error under its field's input. One
    error is kept per browser session until it is shown."""

    def __init__(self):
        self._last = {}

    @contextmanager
    def caught(self, request):
        """Turn a :class:`~plugdiff.apps.demo_actions.DemoInputError` raised inside into the
        call's error (no toast, no traceback), kept for the failure handler."""
        import gradio as gr

        from .demo_actions import DemoInputError

        try:
            yield
        except DemoInputError as err:
            self._last[request.session_hash] = err
            raise gr.Error(str(err), print_exception=False, visible=False) from None  # the page shows it by the input

    def on_click(self, button, handler, inputs: dict, outputs: list, api_name: str, messages: InputMessages) -> None:
        """``button`` calls ``handler`` with ``inputs`` (parameter name -> component; their order
        is the endpoint's parameter order in the API) by name, as the endpoint ``api_name``, one
        request at a time across the endpoints; an input error then shows in ``messages``."""
        import gradio as gr

        # (no `from __future__ import annotations` in this module: gradio finds `request` by its type)
        def show(request: gr.Request):
            return messages.show(self._last.pop(request.session_hash, None))

        button.click(
            handler, inputs_kwargs=inputs, outputs=outputs, api_name=api_name, concurrency_id="model"
        ).failure(show, None, messages.outputs, api_visibility="private")


def video_tab(session: "DemoSession", errors: ErrorRelay) -> None:
    """The Long video tab: the prompt schedule and the settings; Generate (``/video``) shows the
    MP4, optionally the same seed with TiARA off, the GIF and the settings."""
    import gradio as gr

    messages, defaults = (
        InputMessages(),
        session.video_defaults,
    )  # the model's stored scheduler, steps, guidance, transition
    with gr.Row():
        with gr.Column():
            inputs = {**_schedule_and_method(messages, defaults), **_sampling(messages, defaults)}
            inputs["long_video"] = inputs.pop("long_video")  # /video's last parameter (it was added last)
            inputs["long_video"].change(  # each host starts at the model's settings for it
                session.host_sampling,
                inputs=inputs["long_video"],
                outputs=[inputs["scheduler"], inputs["steps"]],
                api_visibility="private",
            )
            generate = gr.Button("Generate", variant="primary")
            messages.others(list(inputs.values()))
        with gr.Column():
            with gr.Row():
                video = gr.Video(label="Video", autoplay=True, loop=True)
                without = gr.Video(label="Same seed, TiARA off", autoplay=True, loop=True)
            gif = gr.File(label="GIF")
            settings_file = gr.File(label="Settings (JSON)")
            settings = gr.JSON(label="Settings")
    gr.Examples(
        [
            [[[0, "a red circle moving right on a gray background"]], 32, 10, False],
            [DEFAULT_SCHEDULE, 32, 10, False],
            [[[0, "a yellow square moving up on a black background"]], 32, 10, True],
        ],
        [inputs[name] for name in ("rows", "frames", "steps", "compare")],
        label="Examples (7-12 s each on a 2-core CPU)",
    )

    def on_video(
        request: gr.Request,
        progress=gr.Progress(track_tqdm=True),
        *,
        rows,
        negative,
        blend,
        **values,
    ):
        with errors.caught(request):
            out = session.video(rows, negative_prompt=negative, prompt_blend=blend, **values)
        return {
            video: out["mp4"],
            without: out["mp4_without_tiara"],
            gif: out["gif"],
            settings_file: out["settings_file"],
            settings: out["settings"],
        }

    errors.on_click(generate, on_video, inputs, [video, without, gif, settings_file, settings], "video", messages)


def _schedule_and_method(messages: InputMessages, defaults: dict) -> dict:
    """The Long video tab's prompt schedule, negative prompt, frames and (in an accordion) the
    long-video method, windows, TiARA and PromptBlend, each above its message; by parameter name."""
    import gradio as gr

    from .demo_actions import MAX_FRAMES

    rows = gr.Dataframe(
        value=DEFAULT_SCHEDULE,
        headers=["frame", "prompt"],
        datatype=["number", "str"],
        column_count=(2, "fixed"),
        label="Prompt schedule: the prompt holds from its frame on ('|' separates slots)",
        interactive=True,
    )
    schedule_message = messages.under([rows], "schedule", "prompt")
    negative = gr.Textbox(label="Negative prompt")
    messages.under([negative], "negative_prompt")
    frames = gr.Slider(1, MAX_FRAMES, value=32, step=1, label="Frames")
    messages.under([frames], "frames")
    messages.clear_on(schedule_message, [frames])  # key frames are checked against the frames
    with gr.Accordion("Long-video method, windows, TiARA, PromptBlend", open=False) as more:
        window = gr.Slider(2, 32, value=WindowSettings.context_length, step=1, label="Window (frames)")
        messages.under([window], "window", accordion=more)
        stride = gr.Slider(1, 32, value=WindowSettings.context_stride, step=1, label="Stride (frames)")
        messages.under([stride, window], "stride", accordion=more)
        long_video = gr.Dropdown(
            list(HOSTS),
            value="windows",
            label="Long-video method",
            info="windows: every frame in 4 windows per step; fifo: FIFO-Diffusion, flat memory, "
            "steps a multiple of the window; freelong: all frames at once, memory grows",
        )
        messages.under([long_video, window], "long_video", "fifo_lookahead", accordion=more)
        tiara = gr.Checkbox(value=True, label="TiARA")
        alpha = gr.Slider(0, 10, value=TiaraSettings.alpha, step=0.5, label="TiARA alpha")
        window_length = gr.Slider(3, 15, value=TiaraSettings.window_length, step=2, label="TiARA window length L")
        adaptive = gr.Checkbox(value=TiaraSettings.adaptive, label="TiARA adaptive penalty")
        messages.under([window_length, tiara, alpha, adaptive, window, frames], "tiara", accordion=more)
        blend = gr.Checkbox(value=True, label="PromptBlend (off: linear interpolation)")
        transition = gr.Number(value=defaults["transition"], label="PromptBlend transition (fraction <= 1, or frames)")
        messages.under([transition, blend], "transition", "blend_steps", accordion=more)
    return dict(
        rows=rows,
        negative=negative,
        frames=frames,
        window=window,
        stride=stride,
        long_video=long_video,
        tiara=tiara,
        alpha=alpha,
        window_length=window_length,
        adaptive=adaptive,
        blend=blend,
        transition=transition,
    )


def _sampling(messages: InputMessages, defaults: dict) -> dict:
    """The Long video tab's sampler, steps, guidance, seed (with a randomise button) and the
    TiARA-off comparison, each above its message; by parameter name."""
    import gradio as gr

    with gr.Row():
        with gr.Column(min_width=120):
            scheduler = gr.Dropdown(list(SCHEDULERS), value=defaults["scheduler"], label="Sampler")
            messages.under([scheduler], "scheduler")
        with gr.Column(min_width=120):
            steps = gr.Slider(1, 100, value=defaults["steps"], step=1, label="Steps")
            messages.under([steps], "steps")
        with gr.Column(min_width=120):
            guidance = gr.Slider(1, 15, value=defaults["guidance"], step=0.5, label="Guidance")
            messages.under([guidance], "guidance")
    with gr.Row():
        seed = gr.Number(value=0, precision=0, label="Seed")
        randomise = gr.Button("Randomise seed", size="sm")
    messages.under([seed], "seed")
    randomise.click(new_seed, outputs=seed, api_visibility="private")
    compare = gr.Checkbox(value=False, label="Also render TiARA off (same seed), side by side")
    return dict(scheduler=scheduler, steps=steps, guidance=guidance, seed=seed, compare=compare)


def new_seed() -> int:
    """A random seed for the seed inputs."""
    return random.randint(0, 2**31 - 1)


def _restore_inputs(messages: InputMessages) -> tuple[dict, Any]:
    """The Restore tab's inputs (image or example, operator, noise, method, budget, samples,
    simulate, seed), each above its message, by parameter name; and the Restore button."""
    import gradio as gr

    from .demo_actions import EXAMPLE_FRAMES

    image = check_uploads_first(
        gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Image (upload)")
    )
    example = gr.Dropdown(list(EXAMPLE_FRAMES), value=next(iter(EXAMPLE_FRAMES)), label="... or a bundled example")
    messages.under([example, image], "image")
    operator = gr.Dropdown(list(OPERATORS), value="sr4", label="Operator")
    noise = gr.Slider(0, 0.5, value=0.05, step=0.01, label="Noise (std; 1bit: logistic scale)")
    messages.under([noise, operator], "operator", "noise", "operator_options")
    method = gr.Radio(["dpnp", "dps", "daps"], value="dpnp", label="Method")
    messages.under([method], "method")
    dps_steps = gr.Slider(
        10,
        1000,
        value=250,
        step=10,
        label="DPS steps; DAPS: as many UNet evaluations (DPnP: 186 + 16 x 4 = 250)",
    )
    messages.under([dps_steps], "steps", "step_size")
    samples = gr.Slider(1, 8, value=2, step=1, label="Samples")
    messages.under([samples], "samples")
    simulate = gr.Checkbox(value=True, label="Simulate: measure the image with the operator first")
    seed = gr.Number(value=0, precision=0, label="Seed")
    messages.under([seed], "seed")
    restore = gr.Button("Restore", variant="primary")
    inputs = dict(
        image=image,
        example=example,
        operator=operator,
        noise=noise,
        method=method,
        samples=samples,
        simulate=simulate,
        seed=seed,
        dps_steps=dps_steps,
    )
    messages.others(list(inputs.values()))
    return inputs, restore


def restore_tab(session: "DemoSession", errors: ErrorRelay) -> None:
    """The Restore tab: an upload or a bundled example, the operator, noise and method; Restore
    (``/restore``) shows the clean image, the measurement, the posterior mean, samples and std."""
    import gradio as gr

    messages = InputMessages()
    with gr.Row():
        with gr.Column():
            inputs, restore = _restore_inputs(messages)
        with gr.Column():
            pictures = gr.Gallery(label="Restoration", columns=3, object_fit="contain", format="png")
            report = gr.JSON(label="Settings and results")
    gr.Examples(
        [
            ["yellow square on red", "inpaint-box", "dps"],
            ["green triangle on white", "motion-blur", "dpnp"],
            ["red circle on blue", "1bit", "dpnp"],
        ],
        [inputs["example"], inputs["operator"], inputs["method"]],
        label="Examples",
    )

    def on_restore(request: gr.Request, progress=gr.Progress(track_tqdm=True), **values):
        with errors.caught(request):
            out = session.restore(**values)
        return {pictures: out["pictures"], report: {"settings": out["settings"], "results": out["results"]}}

    errors.on_click(restore, on_restore, inputs, [pictures, report], "restore", messages)


def samplers_tab(session: "DemoSession", errors: ErrorRelay) -> None:
    """The Samplers tab: Compare (``/samplers``) runs the same noise through each chosen sampler
    on the image prior and shows each picture with its NFE and time."""
    import gradio as gr

    messages = InputMessages()
    with gr.Row():
        with gr.Column():
            names = gr.CheckboxGroup(
                [n for n in SCHEDULERS if n != "default"],
                value=["ddim", "accelerated-ddim", "dpm-solver"],
                label="Samplers",
            )
            messages.under([names], "samplers")
            steps = gr.Slider(1, 100, value=10, step=1, label="Steps")
            messages.under([steps], "steps")
            seed = gr.Number(value=0, precision=0, label="Seed")
            messages.under([seed], "seed")
            run = gr.Button("Compare", variant="primary")
            inputs = dict(names=names, steps=steps, seed=seed)
            messages.others(list(inputs.values()))
        with gr.Column():
            sampled = gr.Gallery(label="Same noise, each sampler", columns=3, object_fit="contain", format="png")
            timing = gr.Dataframe(headers=["sampler", "NFE", "seconds"], label="Time per image")

    def on_samplers(request: gr.Request, progress=gr.Progress(track_tqdm=True), **values):
        with errors.caught(request):
            out = session.samplers(**values)
        return {sampled: out["pictures"], timing: out["rows"]}

    errors.on_click(run, on_samplers, inputs, [sampled, timing], "samplers", messages)


def check_uploads_first(image):
    """Make the ``gr.Image`` input ``image`` check an upload from the file's header (sides,
    PIL's pixel limit) before gradio opens it with PIL: a refused upload reaches the action as a
    :class:`~plugdiff.apps.demo_actions.RefusedUpload`, whose message the page shows under the
    input (no server path, no traceback in the server's log). Set on the instance: a subclass
    of a gradio component would make gradio write a ``.pyi`` file beside this module. (The
    input is never updated by an event, which would rebuild it without the check.)"""
    from .demo_actions import RefusedUpload, upload_refusal

    preprocess = image.preprocess

    def checked(payload):
        path = getattr(payload, "path", None)
        if path and not (getattr(payload, "url", None) or "").startswith("data:"):
            refusal = upload_refusal(path)
            if refusal is not None:
                return RefusedUpload(refusal)
        return preprocess(payload)

    image.preprocess = checked
    return image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="shapesworld-t2v", help="video model: registry name, folder or hub id")
    parser.add_argument("--image-model", default="shapesworld-ddpm", help="image prior for Restore and Samplers")
    parser.add_argument(
        "--host",
        help=f"address to listen on (0.0.0.0: every interface; default: $GRADIO_SERVER_NAME or {DEFAULT_HOST})",
    )
    parser.add_argument("--port", type=int, help=f"port to listen on (default: $GRADIO_SERVER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--queue-size", type=int, default=16, help="requests waiting at most; more are turned away")


class ServerAddressError(ValueError):
    """The web UI cannot listen where it was asked to (the port is taken, a bad host or port)."""


def server_address(args) -> tuple[str, int]:
    """Where to listen: ``--host`` / ``--port``, else gradio's variables ``GRADIO_SERVER_NAME`` /
    ``GRADIO_SERVER_PORT``, else 127.0.0.1:7860."""
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if args.port is not None:
        source, text = "--port", str(args.port)
    else:
        source, text = "GRADIO_SERVER_PORT", os.environ.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
    port = int(text) if text.strip().isdigit() else 0
    if not 0 < port < 65536:
        raise ServerAddressError(f"{source}: must be a port number from 1 to 65535, got {text!r}")
    return host, port


def check_free(host: str, port: int) -> None:
    """Raise :class:`ServerAddressError` (one line: the port and what to pass) unless ``host:port``
    can be listened on; checked before any model loads."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):  # SO_REUSEADDR, as the server itself
            pass
    except OSError as err:
        raise _address_error(host, port, err) from None


def _address_error(host: str, port: int, err: OSError) -> ServerAddressError:
    if err.errno == errno.EADDRINUSE or "empty port" in str(err):
        return ServerAddressError(
            f"port {port} on {host} is in use; start the web UI on another one with --port, e.g. --port {port + 1}"
        )
    return ServerAddressError(f"cannot listen on {host}:{port} ({err.strerror or err}); check --host and --port")


def launch(args, *, block: bool = True):
    """Build the session and app from parsed arguments and start the server (one request at a
    time, ``--queue-size`` waiting, uploads up to MAX_FILE_SIZE). With ``block``, serve until
    Ctrl-C or SIGTERM, then close; else return the running app, whose ``close()`` also cleans up.
    Either way closing removes gradio's cache folder for this app (see :func:`private_cache`)
    and the session's temporary working folder.

    Raises:
        ServerAddressError: the address is unusable (checked before the models load).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    hide_unactionable_messages()
    host, port = server_address(args)
    check_free(host, port)
    from .demo_actions import DemoSession

    cache = private_cache()
    try:
        session = DemoSession(args.model, args.image_model, device=args.device)
        demo = build_demo(session)
    except BaseException:
        _remove_cache(cache)
        raise
    demo.queue(default_concurrency_limit=1, max_size=args.queue_size)
    close = _closer(demo, session, cache)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            max_file_size=MAX_FILE_SIZE,
            show_error=True,
            css=CSS,
            prevent_thread_lock=True,
            quiet=not block,
        )
    except OSError as err:  # taken between the check and the start
        close()
        raise _address_error(host, port, err) from None
    except BaseException:
        close()
        raise
    demo.close = close
    if block:
        with _terminate_as_interrupt():
            try:
                while demo.is_running:
                    time.sleep(0.1)
            except KeyboardInterrupt:
                print("\nclosing the web UI", file=sys.stderr)
            finally:
                close()
    return demo


class _Cache:
    """gradio's cache folder for one app: ``folder`` made for it (None: the user's
    GRADIO_TEMP_DIR, shared), and the variable's value before."""

    def __init__(self, folder: Path | None, previous: str | None):
        self.folder, self.previous = folder, previous


def private_cache() -> _Cache:
    """Point gradio's cache (uploads, and every file the app shows) at a new temporary folder
    ``plugdiff-gradio-*`` unless GRADIO_TEMP_DIR names one: gradio removes the files it cached
    when it closes, but not the folder of each (74 empty folders after one session), so the app
    removes its own folder whole. Set before the app is built: gradio reads it then."""
    previous = os.environ.get("GRADIO_TEMP_DIR")
    if previous:
        return _Cache(None, previous)
    folder = Path(tempfile.mkdtemp(prefix="plugdiff-gradio-"))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # also when the app is never closed
    return _Cache(folder, None)


def _remove_cache(cache: _Cache) -> None:
    if cache.folder is not None:
        shutil.rmtree(cache.folder, ignore_errors=True)
        if os.environ.get("GRADIO_TEMP_DIR") == str(cache.folder):
            os.environ.pop("GRADIO_TEMP_DIR")


def _closer(demo, session, cache: _Cache):
    """``close()`` for the app: gradio's close, then the cache (the private folder; in a shared
    cache, the folders of this app's files once gradio emptied them), then the session's
    temporary working folder. Runs once."""
    gradio_close = demo.close
    done = []

    def close(verbose: bool = False) -> None:
        if done:
            return
        done.append(True)
        folders = {Path(f).parent for files in getattr(demo, "temp_file_sets", []) for f in list(files)}
        try:
            gradio_close(verbose=verbose)
        finally:
            if cache.folder is not None:
                _remove_cache(cache)
            else:
                root = Path(cache.previous).resolve()
                for folder in folders:
                    if folder.resolve().parent == root:
                        try:
                            folder.rmdir()  # only when gradio left it empty
                        except OSError:
                            pass
            session.close()

    return close


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (``kill``, a service manager, a container stopping) handled like Ctrl-C, so the
    app closes and cleans up instead of dying with its temporary folders left behind."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="plugdiff demo", description="The plugdiff web UI.")
    add_arguments(parser)
    try:
        launch(parser.parse_args(argv))
    except ServerAddressError as err:
        parser.exit(2, f"error: {err}\n")
    return 0


if __name__ == "__main__":
    main()
