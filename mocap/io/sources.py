"""Frame sources: video files (PyAV) and image folders here, webcams in :mod:`mocap.io.webcam`.

Every source yields :class:`~mocap.types.Frame` objects with their true index and
time, upright RGB images, and raises :class:`~mocap.errors.SourceError` with the fix
when the input is missing, unreadable or breaks part-way.

Example:
    >>> with open_source("clip.mp4") as source:
    ...     for frame in source:
    ...         frame.index, frame.time_s, frame.image_rgb.shape
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import av
import cv2
import numpy as np
import numpy.typing as npt

from mocap.errors import SourceError
from mocap.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_IMAGE_FPS = 30.0
_S = TypeVar("_S", bound="Source")
_REMUX_FIX = "re-mux or re-encode it (e.g. `ffmpeg -i in.mp4 -c copy out.mp4`, or `-c:v libx264` if that fails)"


class Source:
    """Base class of every frame source: metadata, iteration, context manager.

    Attributes:
        kind: "video", "images" or "webcam".
        fps: frames per second (nominal for live sources).
        size_wh: (width, height) of the upright images in pixels.
        num_frames: frame count when known (None for live sources).
        is_live: True for a camera: frames are dropped rather than queued.
        description: one line naming the kind, path and format, for logs and store attrs.
    """

    kind: str
    fps: float
    size_wh: tuple[int, int]
    num_frames: int | None
    is_live: bool
    description: str

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release files, decoders and threads; safe to call twice."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_source(spec: str | Path, *, start_frame: int = 0, fps: float | None = None) -> Source:
    """Open a video file, a folder of images, or ``webcam:N``.

    Args:
        spec: path of a video file or image folder, or ``webcam:N`` for camera N.
        start_frame: first frame index to yield (resuming a run); earlier frames are skipped.
        fps: frame rate of an image folder (default 30); for a video or webcam, overrides
            the rate reported by the container or driver.

    Raises:
        SourceError: the path is missing or holds no readable video or images.
    """
    if start_frame < 0:
        raise SourceError(f"start_frame must be >= 0, but got {start_frame}")
    text = str(spec)
    if text.startswith("webcam:"):
        from mocap.io.webcam import WebcamSource  # imported here: webcam.py builds on this module

        return WebcamSource(_camera_index(text), start_frame=start_frame, fps=fps)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{path}: file or folder not found; check the path")
    if path.is_dir():
        return ImageFolderSource(path, start_frame=start_frame, fps=fps)
    return VideoSource(path, start_frame=start_frame, fps=fps)


def _camera_index(spec: str) -> int:
    try:
        return int(spec.removeprefix("webcam:"))
    except ValueError:
        raise SourceError(f"{spec!r} is not a camera: write webcam:N with N a number, e.g. webcam:0") from None


# --- video files ---------------------------------------------------------------------------------------------------


def upright(image: npt.NDArray[np.uint8], rotation_ccw_deg: float) -> npt.NDArray[np.uint8]:
    """Rotate a decoded (H, W, C) image counter-clockwise by a multiple of 90 degrees.

    ``rotation_ccw_deg`` is the display-matrix rotation (PyAV's ``VideoFrame.rotation``,
    FFmpeg's ``av_display_rotation_get``): how far a player turns the decoded picture
    counter-clockwise. A phone's portrait clip reads -90 (shown turned clockwise).
    """
    quarter_turns = round(rotation_ccw_deg / 90.0) % 4
    return np.ascontiguousarray(np.rot90(image, k=quarter_turns)) if quarter_turns else image


def _rotation_ccw_deg(stream: Any, first_frame: Any) -> int:
    """Display rotation of the stream: the frame's display matrix, else the legacy ``rotate`` tag."""
    if first_frame.rotation:
        return int(first_frame.rotation)
    tag = stream.metadata.get("rotate")  # clockwise degrees, written by old muxers
    return -int(float(tag)) if tag else 0


def _duration_s(container: Any, stream: Any) -> float | None:
    """Length of the video stream in seconds from the container's header, if it says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska/WebM per-track tag "HH:MM:SS.nnnnnnnnn"
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            log.debug("unparsable DURATION tag %r", tag)
    if container.duration and len(container.streams) == 1:  # with audio, the container may outlast the video
        return float(container.duration / av.time_base)
    return None


def _mp4_without_index(path: Path) -> bool:
    """True for an MP4/MOV file (first box ``ftyp``) that holds no complete ``moov`` box.

    MP4 writers put the index last unless told otherwise, so a recording cut short
    (crash, full disk, interrupted copy) has frames but no way to find them.
    """
    file_size = path.stat().st_size
    offset, complete = 0, []
    with path.open("rb") as f:
        while offset + 8 <= file_size:
            f.seek(offset)
            header = f.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if offset == 0 and kind != b"ftyp":
                return False
            if size == 1:  # a 64-bit size follows the type
                size = int.from_bytes(header[8:16], "big")
            if size < 8 or offset + size > file_size:  # 0 (to the end), garbage, or cut short
                break
            complete.append(kind)
            offset += size
    return offset > 0 and b"moov" not in complete


def _stream_fps(stream: Any) -> float:
    """Average frame rate, else FFmpeg's guess, else one frame per time-base tick."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            return float(rate)
    return float(1 / stream.time_base) if stream.time_base else DEFAULT_IMAGE_FPS


class VideoSource(Source):
    """A video file decoded by PyAV (any codec FFmpeg reads), threaded, never dropping frames.

    Frame indices count from the first frame of the file. After a seek (``start_frame > 0``)
    they are derived from the presentation time times the stream's rate: exact for
    constant-rate video. Times come from the presentation timestamps, or are ``index / fps``
    when ``fps`` is given (the container's timing is then taken to be wrong).
    """

    kind = "video"
    is_live = False

    def __init__(self, path: Path, *, start_frame: int = 0, fps: float | None = None) -> None:
        self.path = path
        self.start_frame = start_frame
        container = self._open()
        try:
            stream = container.streams.video[0]
            first = self._first_frame(container, stream)
            self.rotation_ccw_deg = _rotation_ccw_deg(stream, first)
            self._stream_fps = _stream_fps(stream)
            self._fps_override = float(fps) if fps else None
            self.fps = self._fps_override or self._stream_fps
            self.codec = stream.codec_context.name
            self._time_base: Fraction = stream.time_base or Fraction(1, 1_000_000)
            self._start_pts = stream.start_time or 0
            self._exact_frames: int | None = stream.frames or None  # from the container index (mp4, avi)
            self._duration_s = _duration_s(container, stream)
            estimate = round(self._duration_s * self._stream_fps) if self._duration_s else None
            self.num_frames = self._exact_frames or estimate
            if path.suffix.lower() in IMAGE_SUFFIXES:
                self.num_frames = 1  # a photo: PyAV's image demuxer knows no frame count
        finally:
            container.close()
        w, h = first.width, first.height
        self.size_wh = (h, w) if self.rotation_ccw_deg % 180 else (w, h)
        self.description = (
            f"video {path} ({self.codec}, {self.size_wh[0]}x{self.size_wh[1]}, {self.fps:g} fps, "
            f"{self.num_frames or 'unknown'} frames, rotation {self.rotation_ccw_deg})"
        )
        self._container: Any = None

    def _open(self) -> Any:
        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as e:
            if _mp4_without_index(self.path):
                raise SourceError(
                    f"{self.path}: truncated MP4: the recording stopped before its index (moov box) was written, "
                    "so no frame can be located; repair it with `untrunc` and a good clip from the same camera, "
                    "or record again"
                ) from e
            raise SourceError(
                f"{self.path}: not a readable video ({e}); check that it is a video file, "
                f"or {_REMUX_FIX} if it is truncated"
            ) from e
        if not container.streams.video:
            container.close()
            raise SourceError(
                f"{self.path}: has no video stream (or zero frames); pass a video file, an image folder or webcam:N"
            )
        return container

    def _first_frame(self, container: Any, stream: Any) -> Any:
        try:
            return next(container.decode(stream))
        except StopIteration:
            raise SourceError(
                f"{self.path}: no frame could be decoded: the video is empty or truncated; "
                f"re-export the clip, or {_REMUX_FIX}"
            ) from None
        except av.FFmpegError as e:
            raise SourceError(
                f"{self.path}: cannot decode the first frame, the video is corrupt or truncated ({e}); {_REMUX_FIX}"
            ) from e

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        self._container = container = self._open()
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding keeps up with 2 cores
        self._seek(container, stream)
        last_index = self.start_frame - 1
        index: int | None = None
        try:
            for av_frame in container.decode(stream):
                index, time_s = self._position(av_frame, index)
                if index < self.start_frame:
                    continue
                image = upright(av_frame.to_ndarray(format="rgb24"), self.rotation_ccw_deg)
                last_index = index
                yield Frame(index=index, time_s=time_s, image_rgb=image)
        except av.FFmpegError as e:
            raise SourceError(
                f"{self.path}: truncated or corrupt after frame {last_index} ({e}); the frames before are kept; "
                f"{_REMUX_FIX}"
            ) from e
        finally:
            self.close()
        self._check_complete(last_index)

    def _check_complete(self, last_index: int) -> None:
        """Raise if decoding ended before the end the container announced (a cut file often ends quietly)."""
        # Two frames of slack: edit lists and rounding may legitimately hide a frame or two at the end.
        if self._exact_frames:
            missing = last_index + 3 < self._exact_frames
            expected = f"{self._exact_frames} frames"
        elif self._duration_s:
            missing = (last_index + 3) / self._stream_fps < self._duration_s  # frame i ends at (i + 1) / fps
            expected = f"{self._duration_s:.2f} s"
        else:
            return
        if missing:
            raise SourceError(
                f"{self.path}: truncated: decoding stopped after frame {last_index} but the file announces "
                f"{expected}; the frames before are kept; {_REMUX_FIX}"
            )

    def _seek(self, container: Any, stream: Any) -> None:
        """Jump to the keyframe at or before ``start_frame`` (decoding forward from there skips the rest)."""
        if self.start_frame == 0:
            return
        target_pts = self._start_pts + int(self.start_frame / self._stream_fps / self._time_base)
        try:
            container.seek(target_pts, stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as e:
            log.warning("%s: cannot seek (%s); decoding from the start to frame %d", self.path, e, self.start_frame)
            container.seek(0)

    def _position(self, av_frame: Any, previous_index: int | None) -> tuple[int, float]:
        """(index, time_s) of a decoded frame: the first one placed by its timestamp, the rest counted on."""
        pts_s = None if av_frame.pts is None else float((av_frame.pts - self._start_pts) * self._time_base)
        if previous_index is not None:
            index = previous_index + 1
        else:  # no timestamp (raw streams) means no seek happened either: the first frame
            index = 0 if pts_s is None else round(pts_s * self._stream_fps)
        if pts_s is None or self._fps_override:
            return index, index / self.fps
        return index, pts_s

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def bgr_to_rgb(bgr: Any) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 BGR (OpenCV's order) to a contiguous RGB copy."""
    return np.ascontiguousarray(np.asarray(bgr, np.uint8)[..., ::-1])


# --- image folders -------------------------------------------------------------------------------------------------


class ImageFolderSource(Source):
    """JPEG/PNG/BMP images of one folder in sorted name order, at ``fps`` (default 30)."""

    kind = "images"
    is_live = False

    def __init__(self, folder: Path, *, start_frame: int = 0, fps: float | None = None) -> None:
        self.folder = folder
        self.start_frame = start_frame
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.paths:
            raise SourceError(
                f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder; "
                "point to a folder of frames or to a video file"
            )
        self.fps = float(fps) if fps else DEFAULT_IMAGE_FPS
        self.num_frames = len(self.paths)
        first = self._read(self.paths[0])
        self.size_wh = (first.shape[1], first.shape[0])
        self.description = f"images {folder} ({self.num_frames} files, {self.size_wh[0]}x{self.size_wh[1]})"

    def _read(self, path: Path) -> npt.NDArray[np.uint8]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # applies EXIF orientation
        if bgr is None:
            raise SourceError(f"{path}: unreadable image; re-save it as PNG or JPEG, or remove it from the folder")
        return bgr_to_rgb(bgr)

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.start_frame, len(self.paths)):
            image = self._read(self.paths[index])
            if (image.shape[1], image.shape[0]) != self.size_wh:
                raise SourceError(
                    f"{self.paths[index]}: is {image.shape[1]}x{image.shape[0]} but the first image is "
                    f"{self.size_wh[0]}x{self.size_wh[1]}; resize all images of the folder to one size"
                )
            yield Frame(index=index, time_s=index / self.fps, image_rgb=image)
