"""The plugdiff web UI (``plugdiff demo`` or ``python -m plugdiff.apps.gradio_app``): a Gradio
Blocks app with three tabs over :class:`~plugdiff.apps.demo_actions.DemoSession`:

* Long video: prompt schedule, windows, TiARA, PromptBlend, sampler; MP4 + GIF + settings, and
  optionally the same seed with TiARA off beside it.
* Restore: an upload or a bundled example, an operator, DPnP or DPS; clean, measurement,
  posterior mean, samples and the per-pixel std.
* Samplers: one seed, several schedulers at the same number of steps on the image prior.

Layout only: every button calls a DemoSession action, whose input errors become messages in
the page. Needs the ``ui`` extra (``pip install 'plugdiff[ui]'``).
"""

from __future__ import annotations

import argparse
import os
import random
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .restore import OPERATORS
from .schedulers import SCHEDULERS

DEFAULT_SCHEDULE = [[0, "a red circle moving right on a white background"], [16, "a blue circle moving right on a white background"]]
MAX_FILE_SIZE = "10mb"

if TYPE_CHECKING:  # the demo's models and torch load when it starts, not with `plugdiff --help`
    from .demo_actions import DemoSession


def build_demo(session: DemoSession):
    """The gr.Blocks app; endpoints ``/video``, ``/restore`` and ``/samplers``."""
    import gradio as gr

    from .demo_actions import EXAMPLE_FRAMES, MAX_FRAMES, DemoInputError

    @contextmanager
    def user_errors():
        try:
            yield
        except DemoInputError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_video(rows, negative, frames, window, stride, tiara, alpha, window_length, adaptive, blend, transition,
                 scheduler, steps, guidance, seed, compare, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (gradio's idiom)
        with user_errors():
            out = session.video(rows, negative, frames, window, stride, tiara, alpha, window_length, adaptive, blend,
                                transition, scheduler, steps, guidance, seed, compare)
        return out["mp4"], out["mp4_without_tiara"], out["gif"], out["settings_file"], out["settings"]

    def on_restore(image, example, operator, noise, method, samples, simulate, seed, dps_steps,
                   progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        with user_errors():
            out = session.restore(image, example, operator, noise, method, samples, simulate, seed, dps_steps)
        return out["pictures"], {"settings": out["settings"], "results": out["results"]}

    def on_samplers(names, steps, seed, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        with user_errors():
            out = session.samplers(names, steps, seed)
        return out["pictures"], out["rows"]

    def new_seed():
        return random.randint(0, 2**31 - 1)

    with gr.Blocks(title="plugdiff") as demo:
        gr.Markdown(
            "# plugdiff\nTraining-free diffusion methods on "
            f"`{session.video_model}` (video) and `{session.image_model}` (image prior)."
        )
        with gr.Tab("Long video"):
            with gr.Row():
                with gr.Column():
                    rows = gr.Dataframe(
                        value=DEFAULT_SCHEDULE, headers=["frame", "prompt"], datatype=["number", "str"], column_count=(2, "fixed"),
                        label="Prompt schedule: the prompt holds from its frame on ('|' separates slots)", interactive=True,
                    )
                    negative = gr.Textbox(label="Negative prompt")
                    frames = gr.Slider(1, MAX_FRAMES, value=32, step=1, label="Frames")
                    with gr.Accordion("Windows, TiARA, PromptBlend", open=False):
                        window = gr.Slider(2, 32, value=16, step=1, label="Window (frames)")
                        stride = gr.Slider(1, 32, value=4, step=1, label="Stride (frames)")
                        tiara = gr.Checkbox(value=True, label="TiARA")
                        alpha = gr.Slider(0, 10, value=5, step=0.5, label="TiARA alpha")
                        window_length = gr.Slider(3, 15, value=7, step=2, label="TiARA window length L")
                        adaptive = gr.Checkbox(value=True, label="TiARA adaptive penalty")
                        blend = gr.Checkbox(value=True, label="PromptBlend (off: linear interpolation)")
                        transition = gr.Number(value=0.5, label="PromptBlend transition (fraction <= 1, or frames)")
                    with gr.Row():
                        scheduler = gr.Dropdown(list(SCHEDULERS), value="default", label="Sampler")
                        steps = gr.Slider(1, 100, value=20, step=1, label="Steps")
                        guidance = gr.Slider(1, 15, value=7.5, step=0.5, label="Guidance")
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="Seed")
                        randomise = gr.Button("Randomise seed", size="sm")
                    compare = gr.Checkbox(value=False, label="Also render TiARA off (same seed), side by side")
                    generate = gr.Button("Generate", variant="primary")
                with gr.Column():
                    with gr.Row():
                        video = gr.Video(label="Video", autoplay=True, loop=True)
                        without = gr.Video(label="Same seed, TiARA off", autoplay=True, loop=True)
                    gif = gr.File(label="GIF")
                    settings_file = gr.File(label="Settings (JSON)")
                    settings = gr.JSON(label="Settings")
            gr.Examples(
                [[[[0, "a red circle moving right on a gray background"]], 32, 10, False],
                 [DEFAULT_SCHEDULE, 32, 10, False],
                 [[[0, "a yellow square moving up on a black background"]], 32, 10, True]],
                [rows, frames, steps, compare], label="Examples (7-12 s each on a 2-core CPU)",
            )
            randomise.click(new_seed, outputs=seed, api_visibility="private")
            generate.click(
                on_video, [rows, negative, frames, window, stride, tiara, alpha, window_length, adaptive, blend, transition,
                           scheduler, steps, guidance, seed, compare],
                [video, without, gif, settings_file, settings], api_name="video",
            )
        with gr.Tab("Restore"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(type="numpy", image_mode="RGB", sources=["upload", "clipboard"], label="Image (upload)")
                    example = gr.Dropdown(list(EXAMPLE_FRAMES), value=next(iter(EXAMPLE_FRAMES)), label="... or a bundled example")
                    operator = gr.Dropdown(list(OPERATORS), value="sr4", label="Operator")
                    noise = gr.Slider(0, 0.5, value=0.05, step=0.01, label="Noise (std; 1bit: logistic scale)")
                    method = gr.Radio(["dpnp", "dps"], value="dpnp", label="Method")
                    dps_steps = gr.Slider(10, 1000, value=200, step=10, label="DPS steps (DPnP: 16 x 10 UNet evaluations)")
                    samples = gr.Slider(1, 8, value=2, step=1, label="Samples")
                    simulate = gr.Checkbox(value=True, label="Simulate: measure the image with the operator first")
                    restore_seed = gr.Number(value=0, precision=0, label="Seed")
                    restore = gr.Button("Restore", variant="primary")
                with gr.Column():
                    pictures = gr.Gallery(label="Restoration", columns=3, object_fit="contain", format="png")
                    report = gr.JSON(label="Settings and results")
            gr.Examples([["yellow square on red", "inpaint-box", "dps"], ["green triangle on white", "motion-blur", "dpnp"],
                         ["red circle on blue", "1bit", "dpnp"]], [example, operator, method], label="Examples")
            restore.click(on_restore, [image, example, operator, noise, method, samples, simulate, restore_seed, dps_steps],
                          [pictures, report], api_name="restore")
        with gr.Tab("Samplers"):
            with gr.Row():
                with gr.Column():
                    names = gr.CheckboxGroup([n for n in SCHEDULERS if n != "default"], value=["ddim", "accelerated-ddim", "dpm-solver"],
                                             label="Samplers")
                    sampler_steps = gr.Slider(1, 100, value=10, step=1, label="Steps")
                    sampler_seed = gr.Number(value=0, precision=0, label="Seed")
                    run = gr.Button("Compare", variant="primary")
                with gr.Column():
                    sampled = gr.Gallery(label="Same noise, each sampler", columns=3, object_fit="contain", format="png")
                    timing = gr.Dataframe(headers=["sampler", "NFE", "seconds"], label="Time per image")
            run.click(on_samplers, [names, sampler_steps, sampler_seed], [sampled, timing], api_name="samplers")
    return demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="shapesworld-t2v", help="video model: registry name, folder or hub id")
    parser.add_argument("--image-model", default="shapesworld-ddpm", help="image prior for Restore and Samplers")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--queue-size", type=int, default=16, help="requests waiting at most; more are turned away")


def launch(args, *, block: bool = True):
    """Build the session and app from parsed arguments and start the server (one request at a
    time, ``--queue-size`` waiting, uploads up to MAX_FILE_SIZE)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo(DemoSession(args.model, args.image_model, device=args.device))
    demo.queue(default_concurrency_limit=1, max_size=args.queue_size)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE, show_error=True,
                prevent_thread_lock=not block, quiet=not block)
    return demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="plugdiff demo", description="The plugdiff web UI.")
    add_arguments(parser)
    launch(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    main()
