"""Video writers: MP4 that plays in browsers, GIF, animated WebP, PNG frames; atomic; sidecars."""

import json
import subprocess

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from plugdiff.media import save_video, to_uint8_frames


def frames(n=12, h=33, w=30):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, h, w, generator=g)


def test_mp4_is_h264_yuv420p_and_readable(tmp_path):
    path = save_video(frames(), tmp_path / "out" / "clip.mp4", fps=8, metadata={"seed": 3, "prompt": "a red circle"})
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    stream = next(line for line in info.splitlines() if "Video:" in line)
    assert "h264" in stream and "yuv420p" in stream and "8 fps" in stream
    video = iio.imread(path, plugin="FFMPEG")
    assert video.shape == (12, 34, 30, 3)  # odd height padded to even
    assert json.loads((tmp_path / "out" / "clip.mp4.json").read_text()) == {"seed": 3, "prompt": "a red circle"}
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_gif_and_png_frames(tmp_path):
    gif = save_video(frames(5), tmp_path / "clip.gif", fps=4)
    assert iio.imread(gif).shape[0] == 5
    folder = save_video(frames(5), tmp_path / "clip_frames")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"frame_{i:05d}.png" for i in range(5)]
    expected = to_uint8_frames(frames(5))
    assert np.array_equal(iio.imread(folder / "frame_00003.png"), expected[3])
    save_video(frames(2), folder)  # overwriting a folder replaces it whole
    assert len(list(folder.iterdir())) == 2


def test_webp_is_animated_and_lossless(tmp_path):
    path = save_video(frames(4, 16, 20), tmp_path / "clip.webp", fps=4)
    with Image.open(path) as image:
        assert image.is_animated and image.n_frames == 4
        image.seek(2)
        assert np.array_equal(np.asarray(image.convert("RGB")), to_uint8_frames(frames(4, 16, 20))[2])


def test_frame_inputs():
    pil = [Image.new("RGB", (4, 3), (255, 0, 0))] * 2
    assert to_uint8_frames(pil).shape == (2, 3, 4, 3)
    gray = np.zeros((2, 3, 4, 1), dtype=np.float32)
    assert to_uint8_frames(gray).shape == (2, 3, 4, 3)
    assert to_uint8_frames(torch.ones(1, 3, 2, 2)).max() == 255


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown video format"):
        save_video(frames(2), tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="fps"):
        save_video(frames(2), tmp_path / "clip.mp4", fps=0)
    with pytest.raises(ValueError, match="expected frames"):
        save_video(np.zeros((3, 4)), tmp_path / "clip.mp4")
    assert not (tmp_path / "clip.mp4").exists()
