"""Typed stage outputs: one dataclass per arrow of the data flow.

Every container holds N rows of numpy arrays (one row per person), validates
its shapes on construction, and supports ``len``, boolean/int/slice indexing
and ``empty()``. Units and frames are in the field names: ``_px`` image pixels
(x right, y down, origin at the top-left pixel corner), ``_m`` metres,
``_cam`` the camera frame (x right, y down, z forward), ``_world`` MediaPipe's
hip-centred world frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

NUM_LANDMARKS = 33  # MediaPipe BlazePose landmarks

T = TypeVar("T", bound="_Rows")


def check_shape(name: str, array: np.ndarray, expected: tuple[int | None, ...]) -> None:
    """Raise ``ValueError`` naming the expected and actual shape (None = any size)."""
    ok = array.ndim == len(expected) and all(e is None or e == a for e, a in zip(expected, array.shape, strict=False))
    if not ok:
        dims = ["_" if e is None else str(e) for e in expected]
        want = f"({dims[0]},)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"
        raise ValueError(f"{name} must have shape {want}, but got shape {tuple(array.shape)}")


class _Rows:
    """Mixin for dataclasses whose array fields all have N rows."""

    def __len__(self) -> int:
        return len(getattr(self, dataclasses.fields(self)[0].name))  # type: ignore[arg-type]

    def __getitem__(self: T, index: int | slice | list[int] | npt.NDArray[Any]) -> T:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        rows = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            indexed = isinstance(value, (np.ndarray, _Rows)) and f.metadata.get("rows", True)
            rows[f.name] = value[index] if indexed else value
        return type(self)(**rows)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class Frame:
    """One decoded image.

    Attributes:
        index: frame number in the source, from 0; gaps mean dropped frames (live sources).
        time_s: presentation time in seconds from the start of the source.
        image_rgb: (H, W, 3) uint8, already rotated upright.
        intrinsics: optional (3, 3) pinhole matrix in pixels.
    """

    index: int
    time_s: float
    image_rgb: npt.NDArray[np.uint8]
    intrinsics: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        check_shape("Frame.image_rgb", self.image_rgb, (None, None, 3))
        if self.image_rgb.dtype != np.uint8:
            raise ValueError(f"Frame.image_rgb must be uint8, but got {self.image_rgb.dtype}")
        if self.intrinsics is not None:
            check_shape("Frame.intrinsics", self.intrinsics, (3, 3))

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.image_rgb.shape[1]), int(self.image_rgb.shape[0])


@dataclass(eq=False)
class MirrorView(_Rows):
    """The same people as the detector saw them in the left-right mirrored frame, mapped back into the frame.

    A second, genuinely different measurement of each person (the detector is not mirror-symmetric); rows are
    NaN where the mirrored frame had nobody matching that person (``mocap.detect.mirror``).

    Attributes:
        landmarks_px: (N, 33, 3) float32 x_px, y_px (the frame's pixels), visibility; left and right relabelled
            back, so row i describes the same landmarks as the direct detection's row i.
        landmarks_world_m: (N, 33, 3) float32 MediaPipe world landmarks (x negated back), metres, hip-centred.
    """

    landmarks_px: npt.NDArray[np.float32]
    landmarks_world_m: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.landmarks_px)
        check_shape("MirrorView.landmarks_px", self.landmarks_px, (None, NUM_LANDMARKS, 3))
        check_shape("MirrorView.landmarks_world_m", self.landmarks_world_m, (n, NUM_LANDMARKS, 3))

    @property
    def found(self) -> npt.NDArray[np.bool_]:
        """(N,) whether the mirrored frame had this person."""
        return np.asarray(np.isfinite(self.landmarks_px).all(axis=(1, 2)), bool)


@dataclass(eq=False)
class Detections(_Rows):
    """People found in one frame.

    Attributes:
        xyxy_px: (N, 4) float32 boxes (x0, y0, x1, y1) around the visible landmarks.
        score: (N,) float32 detection confidence in [0, 1].
        landmarks_px: (N, 33, 3) float32: x_px, y_px, visibility in [0, 1].
        landmarks_world_m: (N, 33, 3) float32 MediaPipe world landmarks, metres, hip-centred.
        mirror: the same N people seen in the mirrored frame, when the detector looked there too
            (``DetectConfig.mirror_view``), else None.
    """

    xyxy_px: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    landmarks_px: npt.NDArray[np.float32]
    landmarks_world_m: npt.NDArray[np.float32]
    mirror: MirrorView | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy_px)
        check_shape("Detections.xyxy_px", self.xyxy_px, (None, 4))
        check_shape("Detections.score", self.score, (n,))
        check_shape("Detections.landmarks_px", self.landmarks_px, (n, NUM_LANDMARKS, 3))
        check_shape("Detections.landmarks_world_m", self.landmarks_world_m, (n, NUM_LANDMARKS, 3))
        if self.mirror is not None and len(self.mirror) != n:
            raise ValueError(f"Detections.mirror must have {n} rows (one per detection), but got {len(self.mirror)}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy_px=np.zeros((0, 4), np.float32),
            score=np.zeros((0,), np.float32),
            landmarks_px=np.zeros((0, NUM_LANDMARKS, 3), np.float32),
            landmarks_world_m=np.zeros((0, NUM_LANDMARKS, 3), np.float32),
        )


class TrackState(IntEnum):
    """Life cycle of a track: stored as int8 in the store."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


@dataclass(eq=False)
class Tracks(_Rows):
    """Tracked people in one frame: the detections they were matched to, plus identity.

    A LOST track has no detection this frame: its box is the Kalman prediction,
    its landmarks are NaN and ``detection_index`` is -1.

    Attributes:
        track_id: (N,) int64 stable ids, from 1.
        state: (N,) int8 :class:`TrackState` values.
        age: (N,) int32 frames since the track was born.
        detection_index: (N,) int64 row in this frame's Detections, -1 when unmatched.
        xyxy_px: (N, 4) float32 box: the matched detection's box (or the prediction when lost).
        score, landmarks_px, landmarks_world_m: as in :class:`Detections`.
    """

    track_id: npt.NDArray[np.int64]
    state: npt.NDArray[np.int8]
    age: npt.NDArray[np.int32]
    detection_index: npt.NDArray[np.int64]
    xyxy_px: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    landmarks_px: npt.NDArray[np.float32]
    landmarks_world_m: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.track_id)
        check_shape("Tracks.track_id", self.track_id, (None,))
        check_shape("Tracks.state", self.state, (n,))
        check_shape("Tracks.age", self.age, (n,))
        check_shape("Tracks.detection_index", self.detection_index, (n,))
        check_shape("Tracks.xyxy_px", self.xyxy_px, (n, 4))
        check_shape("Tracks.score", self.score, (n,))
        check_shape("Tracks.landmarks_px", self.landmarks_px, (n, NUM_LANDMARKS, 3))
        check_shape("Tracks.landmarks_world_m", self.landmarks_world_m, (n, NUM_LANDMARKS, 3))

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            track_id=np.zeros((0,), np.int64),
            state=np.zeros((0,), np.int8),
            age=np.zeros((0,), np.int32),
            detection_index=np.zeros((0,), np.int64),
            xyxy_px=np.zeros((0, 4), np.float32),
            score=np.zeros((0,), np.float32),
            landmarks_px=np.zeros((0, NUM_LANDMARKS, 3), np.float32),
            landmarks_world_m=np.zeros((0, NUM_LANDMARKS, 3), np.float32),
        )

    @property
    def confirmed(self) -> Tracks:
        return self[self.state == TrackState.CONFIRMED]


@dataclass(eq=False)
class FrameResult:
    """Everything computed for one frame: what the sinks (store, overlay, viewer) receive.

    ``tracks`` holds the people written for this frame (confirmed tracks that
    were matched to a detection). Later stages add per-track arrays to
    ``track_fields`` (name -> array with ``len(tracks)`` rows, e.g. ``tokens``
    (N, 54), ``vertices_cam_m`` (N, V, 3)); the store writes every one of them
    beside the Tracks fields, and a sink ignores what it does not use.
    """

    frame_index: int
    time_s: float
    size_wh: tuple[int, int]
    tracks: Tracks
    track_fields: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.track_fields.items():
            if len(value) != len(self.tracks):
                raise ValueError(
                    f"FrameResult.track_fields[{name!r}] must have {len(self.tracks)} rows (one per track), "
                    f"but got shape {tuple(value.shape)}"
                )


@dataclass(eq=False)
class Crops(_Rows):
    """Square crops of tracked people, the input of the mesh model.

    Attributes:
        track_id: (N,) int64.
        center_px: (N, 2) float64 crop centre in the image.
        size_px: (N,) float64 side of the square crop.
        landmarks_crop: (N, 33, 3) float32: x, y in crop coordinates ([-1, 1] inside the crop), visibility.
        landmarks_world_m: (N, 33, 3) float32 MediaPipe world landmarks.
    """

    track_id: npt.NDArray[np.int64]
    center_px: npt.NDArray[np.float64]
    size_px: npt.NDArray[np.float64]
    landmarks_crop: npt.NDArray[np.float32]
    landmarks_world_m: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.track_id)
        check_shape("Crops.track_id", self.track_id, (None,))
        check_shape("Crops.center_px", self.center_px, (n, 2))
        check_shape("Crops.size_px", self.size_px, (n,))
        check_shape("Crops.landmarks_crop", self.landmarks_crop, (n, NUM_LANDMARKS, 3))
        check_shape("Crops.landmarks_world_m", self.landmarks_world_m, (n, NUM_LANDMARKS, 3))


@dataclass(eq=False)
class TokenPredictions(_Rows):
    """MEGA's answer per crop.

    Attributes:
        track_id: (N,) int64.
        ids: (N, T) int64 token ids (T = 54) of the argmax (or first) answer.
        confidence: (N, T) float32 probability of each chosen token.
        rotation_6d: (N, 6) float32 global orientation of the canonical mesh in the camera frame.
        camera: (N, 3) float32 weak-perspective crop camera (s, tx, ty).
        uncertainty: (N,) float32 cheap per-crop uncertainty from the argmax pass (higher = less sure).
        samples: optional (N, K, T) int64 token ids of K stochastic samples.
        embeddings: optional (N, T, C) float32 expected code embeddings of the argmax pass (token probabilities
            times the tokenizer's codebook), when the predictor was given the codebook. In ``MeshEstimate.tokens``
            rotation_6d and camera are those that placed the mesh (after refinement and mirror averaging).
    """

    track_id: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float32]
    rotation_6d: npt.NDArray[np.float32]
    camera: npt.NDArray[np.float32]
    uncertainty: npt.NDArray[np.float32]
    samples: npt.NDArray[np.int64] | None = None
    embeddings: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        n = len(self.track_id)
        check_shape("TokenPredictions.ids", self.ids, (n, None))
        check_shape("TokenPredictions.confidence", self.confidence, self.ids.shape)
        check_shape("TokenPredictions.rotation_6d", self.rotation_6d, (n, 6))
        check_shape("TokenPredictions.camera", self.camera, (n, 3))
        check_shape("TokenPredictions.uncertainty", self.uncertainty, (n,))
        if self.samples is not None:
            check_shape("TokenPredictions.samples", self.samples, (n, None, self.ids.shape[1]))
        if self.embeddings is not None:
            check_shape("TokenPredictions.embeddings", self.embeddings, (n, self.ids.shape[1], None))


@dataclass(eq=False)
class Meshes(_Rows):
    """Posed meshes in the camera frame (x right, y down, z forward; metres).

    Attributes:
        track_id: (N,) int64.
        vertices_cam_m: (N, V, 3) float32.
        vertex_uncertainty_m: (N, V) float32 mean distance of the sampled meshes to their mean, or where the crop
            was not sampled the spread prior's estimate from the argmax pass (``mocap.mesh.spread``).
        joints_cam_m: (N, J, 3) float32 joints regressed from the vertices.
    """

    track_id: npt.NDArray[np.int64]
    vertices_cam_m: npt.NDArray[np.float32]
    vertex_uncertainty_m: npt.NDArray[np.float32]
    joints_cam_m: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.track_id)
        check_shape("Meshes.vertices_cam_m", self.vertices_cam_m, (n, None, 3))
        check_shape("Meshes.vertex_uncertainty_m", self.vertex_uncertainty_m, self.vertices_cam_m.shape[:2])
        check_shape("Meshes.joints_cam_m", self.joints_cam_m, (n, None, 3))
