"""ShapesWorld: the procedural world of captioned clips behind the bundled models and the
benchmarks, in one place.

- ``world``: the seeded generator (clips, frames, captions, per-frame ground truth, the held-out
  caption combinations).
- ``detector``: reads a frame back (object colour, shape, centre) and a clip's direction.
- ``caption_agreement`` / ``video_consistency``: scores built on the detector (does a clip show
  its caption; identity, flicker, jerk and prompt transitions of long videos).
- ``tracks`` / ``long_video_scores``: wrap-aware object tracks (speed, wraps, jumps) and the
  long-video scores on VBench's dimensions, the v5 identity drift and in-between errors.
- ``models`` / ``text_models``: the architectures of the bundled models, built from configs.
- ``train`` (``python -m plugdiff.shapesworld.train ddpm|vae|t2v``), ``training`` and the
  ``train_*`` modules: the seeded, resumable training recipes.

The trained models themselves are folders in :mod:`plugdiff.weights`.

Names are imported on first use."""

from .._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".detector": [
            "COLOUR_TOLERANCE",
            "FOREGROUND_THRESHOLD",
            "MAX_AREA_FRACTION",
            "MIN_AREA_FRACTION",
            "MIN_COMPONENT_FRACTION",
            "Detection",
            "detect",
            "detect_direction",
            "nearest_colour",
            "object_colour",
        ],
        ".long_video_scores": ["identity_drift", "inbetween_errors", "video_scores"],
        ".tracks": ["unwrap_track"],
        ".world": [
            "BACKGROUNDS",
            "COLOURS",
            "DIRECTIONS",
            "HELD_OUT",
            "PALETTE",
            "PLACEMENTS",
            "REFERENCE_SIZE",
            "SHAPES",
            "ClipSpec",
            "FrameTruth",
            "Mix",
            "V5_SHADES",
            "WORLDS",
            "colour_tensor",
            "frame_states",
            "parse_caption",
            "random_mix",
            "random_spec",
            "random_v5_spec",
            "render_clip",
            "render_frames",
            "sample_clips",
            "sample_frames",
            "truth",
        ],
    },
)
