"""Saves rendered viewer frames: an H.264 video (``.mp4``, ``.mkv``, ``.mov``) or a folder of PNGs.

The legacy Open3D viewer has no text overlay, so the status line (frame index, fps) is drawn
onto every saved frame with OpenCV.

Example:
    >>> with FrameSaver("out.mp4", fps=30.0, size_wh=(640, 480)) as saver:  # doctest: +SKIP
    ...     saver.write(image_rgb, frame_index=0, text="frame 0")
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import numpy.typing as npt

from mocap.errors import ConfigError
from mocap.io.video_writer import VideoWriter
from mocap.view.scene import uncertainty_color_rgb

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def draw_text(image_rgb: npt.NDArray[np.uint8], text: str) -> npt.NDArray[np.uint8]:
    """A copy of ``image_rgb`` with ``text`` (lines split at "\\n") top left, dark on a light box, shrunk to fit."""
    out = image_rgb.copy()
    lines = text.split("\n")
    font, width_px = cv2.FONT_HERSHEY_SIMPLEX, image_rgb.shape[1]
    scale = max(0.4, image_rgb.shape[0] / 900)
    widest = max(cv2.getTextSize(line, font, scale, 1)[0][0] for line in lines)
    scale *= min(1.0, (width_px - 16) / max(1, widest))
    (_, line_h), baseline = cv2.getTextSize("Ag", font, scale, 1)
    step = line_h + baseline + 2
    widest = max(cv2.getTextSize(line, font, scale, 1)[0][0] for line in lines)
    cv2.rectangle(out, (4, 4), (12 + widest, 8 + step * len(lines)), (255, 255, 255), thickness=-1)
    for row, line in enumerate(lines):
        cv2.putText(out, line, (8, 6 + line_h + row * step), font, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def draw_colorbar(image_rgb: npt.NDArray[np.uint8], max_m: float) -> npt.NDArray[np.uint8]:
    """A copy of ``image_rgb`` with the uncertainty ramp (0 at the bottom, ``max_m`` on top) at its top right."""
    out = image_rgb.copy()
    h, w = image_rgb.shape[:2]
    bar_h, bar_w = max(8, h // 3), max(4, w // 60)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.3, h / 1400)
    labels = [(f"{max_m * 1000:.0f} mm", 0), ("0 mm", bar_h)]  # (text, row along the bar)
    (text_w, text_h), _ = cv2.getTextSize(labels[0][0], font, scale, 1)
    x0, y0 = w - 6 - text_w - 3 - bar_w, 6 + text_h // 2
    values = np.linspace(max_m, 0.0, bar_h)  # (bar_h,) top to bottom
    out[y0 : y0 + bar_h, x0 : x0 + bar_w] = (uncertainty_color_rgb(values)[:, None] * 255).astype(np.uint8)
    for text, row in labels:
        cv2.putText(out, text, (x0 + bar_w + 3, y0 + row + text_h // 2), font, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return out


class FrameSaver:
    """Writes viewer frames to a video file or to ``<dir>/frame_<index>.png``.

    Args:
        path: ``out.mp4`` (or .mkv/.mov) for a video, anything else is a folder (created).
        fps: video frame rate (ignored for PNGs).
        size_wh: (width, height) of the frames.
        colorbar_max_m: draw the uncertainty ramp up to this value on every frame (None: no ramp).

    Raises:
        ConfigError: the path cannot be written.
    """

    def __init__(
        self, path: str | Path, fps: float, size_wh: tuple[int, int], colorbar_max_m: float | None = None
    ) -> None:
        self.path = Path(path)
        self.colorbar_max_m = colorbar_max_m
        self.frames_written = 0
        self._video: VideoWriter | None = None
        if self.path.suffix.lower() in VIDEO_SUFFIXES:
            self._video = VideoWriter(self.path, fps, size_wh)
        else:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    f"cannot create the folder {self.path} ({error}): choose a writable --save path"
                ) from error

    def write(self, image_rgb: npt.NDArray[np.uint8], frame_index: int, text: str = "") -> None:
        """Save one (H, W, 3) uint8 frame, with ``text`` drawn on it when given."""
        image = draw_text(image_rgb, text) if text else image_rgb
        if self.colorbar_max_m is not None:
            image = draw_colorbar(image, self.colorbar_max_m)
        if self._video is not None:
            self._video.write(image)
        else:
            cv2.imwrite(str(self.path / f"frame_{frame_index:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def __enter__(self) -> FrameSaver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
