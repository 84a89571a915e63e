"""Shared fixtures: small clips with real people, made by the tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# anny writes ~800 MB of cache on first use: share one per machine, never the user's home by surprise.
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny"))


def write_clip(
    path: Path, frames: list[np.ndarray], fps: int = 30, codec: str = "libx264", options: dict[str, str] | None = None
) -> Path:
    """Encode RGB frames (H, W, 3) uint8 into a video file with PyAV (``options``: muxer options)."""
    import av  # here, not at the top: the GPU check runs the model tests where PyAV is not installed

    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def astronaut_frames(num_frames: int = 24, size_wh: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """A real photo of a person (scikit-image's astronaut, public domain) sliding across a grey canvas."""
    import cv2
    from skimage.data import astronaut

    person = cv2.resize(astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    width, height = size_wh
    frames = []
    for i in range(num_frames):
        canvas = np.full((height, width, 3), 90, np.uint8)
        x = 20 + (width - 440) * i // max(num_frames - 1, 1)
        canvas[height - 400 :, x : x + 400] = person
        frames.append(canvas)
    return frames


@pytest.fixture(scope="session")
def person_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame H.264 clip (640x480, 30 fps) of one real person moving left to right."""
    return write_clip(tmp_path_factory.mktemp("clips") / "astronaut.mp4", astronaut_frames())


@pytest.fixture(scope="session")
def empty_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-frame clip with nobody in it."""
    frames = [np.full((240, 320, 3), 40 + 10 * i, np.uint8) for i in range(10)]
    return write_clip(tmp_path_factory.mktemp("clips") / "empty.mp4", frames)
