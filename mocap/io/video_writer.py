"""Write RGB frames to an H.264 (libx264, yuv420p) video through PyAV.

OpenCV's ``avc1`` writer is missing from the pip wheels, so H.264 goes through PyAV.
yuv420p halves the chroma resolution, so odd widths/heights are padded by one
edge-replicated pixel column/row to even.

Example:
    >>> with VideoWriter("overlay.mp4", fps=30, size_wh=(640, 480)) as writer:
    ...     writer.write(image_rgb)  # (480, 640, 3) uint8
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from mocap.errors import ConfigError

log = logging.getLogger(__name__)


def even_size_wh(size_wh: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) rounded up to even numbers, as yuv420p requires."""
    w, h = size_wh
    return w + w % 2, h + h % 2


class VideoWriter:
    """H.264 video writer: one verb, :meth:`write`, then :meth:`close` (or use it as a context manager).

    Args:
        path: output file; the container follows the suffix (``.mp4``, ``.mkv``, ``.mov``).
        fps: frame rate; fractional rates such as 29.97 are kept exactly to 1/1001.
        size_wh: (width, height) of every image passed to :meth:`write`.
        crf: x264 constant rate factor: 0 lossless, 23 default, 51 worst.

    Raises:
        ConfigError: the path cannot be written, or the size, fps or crf is invalid.
    """

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int], *, crf: int = 23) -> None:
        self.path = Path(path)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        if min(self.size_wh) < 1:
            raise ConfigError(f"video size must be positive, but got {size_wh}")
        if not fps > 0:
            raise ConfigError(f"video fps must be positive, but got {fps}")
        if not 0 <= crf <= 51:
            raise ConfigError(f"x264 crf must lie in [0, 51], but got {crf}")
        self.frames_written = 0
        try:
            self.path.open("wb").close()  # PyAV opens the file lazily: fail here, not at the first frame
        except OSError as e:
            raise ConfigError(f"cannot write the video {self.path} ({e}); choose a writable path") from e
        try:
            self._container: Any = av.open(str(self.path), mode="w")
        except (ValueError, av.FFmpegError) as e:
            self.path.unlink(missing_ok=True)
            raise ConfigError(
                f"cannot write the video {self.path} ({e}); choose a path ending in .mp4, .mkv or .mov"
            ) from e
        w, h = even_size_wh(self.size_wh)
        self._stream: Any = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = w, h
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf)}

    def write(self, image_rgb: npt.NDArray[np.uint8]) -> None:
        """Encode one (H, W, 3) uint8 RGB image of the size given at construction."""
        if self._container is None:
            raise RuntimeError(f"VideoWriter({self.path}) is closed")
        expected = (self.size_wh[1], self.size_wh[0], 3)
        if image_rgb.shape != expected or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"image_rgb must be uint8 with shape {expected}, but got {image_rgb.dtype} {tuple(image_rgb.shape)}"
            )
        w, h = self._stream.width, self._stream.height
        padded = np.pad(image_rgb, ((0, h - expected[0]), (0, w - expected[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None
        log.debug("wrote %d frames to %s", self.frames_written, self.path)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
