"""Multi-person 2D/3D body landmarks from MediaPipe's pose landmarker (BlazePose full, Tasks API).

Example:
    >>> with PoseDetector(DetectConfig(max_people=2)) as detector:
    ...     detections = detector.detect(frame)
    >>> detections.landmarks_px.shape  # (N, 33, 3): x_px, y_px, visibility
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from mocap.detect.config import DetectConfig
from mocap.detect.mirror import flip_frame, unflip, with_mirror_view
from mocap.detect.task_bundle import pose_landmarker_bundle
from mocap.track.matching import box_iou
from mocap.types import NUM_LANDMARKS, Detections, Frame

log = logging.getLogger(__name__)

VISIBLE = 0.5  # a landmark with visibility above this counts as seen (box fitting)
NATIVE_LOGS_ENV = "MOCAP_NATIVE_LOGS"  # set to 1 to see MediaPipe's C++ start-up logs


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (MediaPipe's C++ start-up chatter: absl, TFLite, EGL).

    The native code writes straight to fd 2, below Python's ``sys.stderr``, so only a descriptor swap silences it.
    Failures still surface as Python exceptions. ``MOCAP_NATIVE_LOGS=1`` keeps the logs.
    """
    if os.environ.get(NATIVE_LOGS_ENV) == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def landmark_boxes_px(
    landmarks_px: npt.NDArray[np.float32], size_wh: tuple[int, int], margin: float
) -> npt.NDArray[np.float32]:
    """Boxes around each person's visible landmarks, grown by ``margin`` and clipped to the image.

    Args:
        landmarks_px: (N, 33, 3) x_px, y_px, visibility.
        size_wh: image width and height in pixels.
        margin: fraction of the box width (height) added on the left and right (top and bottom).

    Returns:
        (N, 4) float32 x0, y0, x1, y1 in pixels. A person with no landmark above
        visibility 0.5 gets the box around all of its landmarks.
    """
    xy = landmarks_px[..., :2].astype(np.float64)  # (N, 33, 2)
    visible = landmarks_px[..., 2] > VISIBLE  # (N, 33)
    visible[~visible.any(axis=1)] = True
    lo = np.where(visible[..., None], xy, np.inf).min(axis=1)  # (N, 2)
    hi = np.where(visible[..., None], xy, -np.inf).max(axis=1)  # (N, 2)
    pad = (hi - lo) * margin
    w, h = size_wh
    upper = np.array([w, h], np.float64)
    boxes = np.concatenate([np.clip(lo - pad, 0.0, upper), np.clip(hi + pad, 0.0, upper)], axis=1)
    return boxes.astype(np.float32)


def presence_score(xy_norm: npt.NDArray[np.float32], presence: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Detection confidence per person: mean presence of the landmarks that fall inside the image.

    MediaPipe also extrapolates landmarks outside the frame (legs of a half-body shot)
    with presence near 0; counting those would mark every close-up as a weak detection.

    Args:
        xy_norm: (N, 33, 2) landmark positions as fractions of the image width/height.
        presence: (N, 33) MediaPipe presence in [0, 1].

    Returns:
        (N,) float32 in [0, 1]; a person with no landmark inside scores the mean over all.
    """
    inside = np.all((xy_norm >= 0.0) & (xy_norm <= 1.0), axis=-1)  # (N, 33) bool
    inside[~inside.any(axis=1)] = True
    return ((presence * inside).sum(axis=1) / inside.sum(axis=1)).astype(np.float32)


def distinct_people(
    xyxy_px: npt.NDArray[np.float32], score: npt.NDArray[np.float32], max_iou: float
) -> npt.NDArray[np.int64]:
    """Rows to keep so that no two kept boxes overlap more than ``max_iou`` (greedy NMS by score).

    Args:
        xyxy_px: (N, 4) boxes in pixels.
        score: (N,) confidence; ties keep the earlier row.
        max_iou: the largest intersection over union two kept boxes may have.

    Returns:
        (K,) int64 row indices in increasing order.
    """
    iou = box_iou(xyxy_px, xyxy_px)  # (N, N)
    keep: list[int] = []
    for i in np.argsort(-score, kind="stable"):
        if all(iou[i, j] <= max_iou for j in keep):
            keep.append(int(i))
    return np.array(sorted(keep), np.int64)


class _Timestamps:
    """Turns frame times into the strictly increasing integer milliseconds VIDEO mode demands.

    A webcam gap, a resumed run or a source with duplicate pts can give equal or
    decreasing times; those are nudged to one millisecond after the previous one.
    """

    def __init__(self) -> None:
        self._last_ms: int | None = None

    def __call__(self, time_s: float) -> int:
        ms = round(time_s * 1000.0)
        if self._last_ms is not None and ms <= self._last_ms:
            log.debug("frame time %.3f s is not after the previous frame: sent as %d ms", time_s, self._last_ms + 1)
            ms = self._last_ms + 1
        self._last_ms = ms
        return ms


class PoseDetector:
    """Finds up to ``max_people`` people per frame with MediaPipe's PoseLandmarker in VIDEO mode.

    VIDEO mode tracks landmarks from frame to frame (faster and steadier than
    detecting each frame anew), so feed it the frames of one source in order.
    While fewer than ``max_people`` people are tracked, MediaPipe also runs its person
    detector on every frame: one person costs ~65 ms of CPU per 640x480 frame with
    ``max_people=4`` against ~36 ms with ``max_people=1``.

    Example:
        >>> detector = PoseDetector(DetectConfig())
        >>> len(detector.detect(frame))  # people found
        >>> detector.close()
    """

    def __init__(self, config: DetectConfig | None = None, *, bundle_path: Path | None = None) -> None:
        self.config = config if config is not None else DetectConfig()
        self._path = bundle_path if bundle_path is not None else pose_landmarker_bundle()
        self._landmarker: Any = self._create_landmarker()
        self._timestamp_ms = _Timestamps()
        # The mirrored view has a landmarker of its own: VIDEO mode tracks each stream's people between frames.
        self._mirror: Any = self._create_landmarker() if self.config.mirror_view else None
        self._mirror_timestamp_ms = _Timestamps()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mocap-mirror") if self.config.mirror_view else None

    def _create_landmarker(self) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self._path)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=self.config.max_people,
            min_pose_detection_confidence=self.config.min_detection_confidence,
            min_pose_presence_confidence=self.config.min_presence_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
        )
        with quiet_native_stderr():
            return vision.PoseLandmarker.create_from_options(options)

    def detect(self, frame: Frame) -> Detections:
        """People in ``frame``: boxes, scores, image landmarks (px) and world landmarks (m); with
        ``mirror_view``, also what the flipped frame shows of each of them (``Detections.mirror``)."""
        if self._landmarker is None:
            raise RuntimeError("PoseDetector.detect called after close()")
        if self._pool is None:
            return self._run(self._landmarker, self._timestamp_ms, frame)
        # MediaPipe releases the GIL: on two cores the flipped frame costs little wall time beside the direct one.
        flipped = self._pool.submit(self._run, self._mirror, self._mirror_timestamp_ms, flip_frame(frame))
        direct = self._run(self._landmarker, self._timestamp_ms, frame)
        return with_mirror_view(direct, unflip(flipped.result(), frame.size_wh[0]))

    def _run(self, landmarker: Any, timestamp_ms: _Timestamps, frame: Frame) -> Detections:
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.image_rgb))
        result = landmarker.detect_for_video(image, timestamp_ms(frame.time_s))
        if not result.pose_landmarks:
            return Detections.empty()
        return self._to_detections(result, frame.size_wh)

    def _to_detections(self, result: Any, size_wh: tuple[int, int]) -> Detections:
        w, h = size_wh
        # normalized (x, y) in [0, 1] of the image, visibility, presence: (N, 33, 4)
        norm = np.array(
            [[(p.x, p.y, p.visibility, p.presence) for p in person] for person in result.pose_landmarks],
            np.float32,
        )
        world_m = np.array(
            [[(p.x, p.y, p.z) for p in person] for person in result.pose_world_landmarks], np.float32
        )  # (N, 33, 3)
        assert norm.shape[1:] == (NUM_LANDMARKS, 4), norm.shape
        landmarks_px = np.stack([norm[..., 0] * w, norm[..., 1] * h, norm[..., 2]], axis=-1)  # (N, 33, 3)
        found = Detections(
            xyxy_px=landmark_boxes_px(landmarks_px, size_wh, self.config.box_margin),
            score=presence_score(norm[..., :2], norm[..., 3]),
            landmarks_px=landmarks_px,
            landmarks_world_m=world_m,
        )
        return found[distinct_people(found.xyxy_px, found.score, self.config.max_box_iou)]

    def close(self) -> None:
        """Release MediaPipe's graph; the detector cannot be used afterwards."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for landmarker in (self._landmarker, self._mirror):
            if landmarker is not None:
                landmarker.close()
        self._landmarker = self._mirror = None

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
