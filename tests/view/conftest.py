"""Small synthetic run stores for the viewer tests: box-shaped "people" with ``body/faces``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import trimesh
import zarr
from zarr.storage import LocalStore

from mocap.io.store import StoreWriter
from mocap.types import NUM_LANDMARKS, FrameResult, Tracks, TrackState

SIZE_WH = (160, 120)
FOCAL_PX = 160.0
INTRINSICS = np.array([[FOCAL_PX, 0, 80.0], [0, FOCAL_PX, 60.0], [0, 0, 1]])
FLOOR_Y_M = 1.5  # the floor is 1.5 m below the camera


def person_mesh(x_m: float, z_m: float) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """A 0.5 x 1.7 x 0.3 m box standing on the floor at (x, z), camera frame: (V, 3) vertices, (F, 3) faces."""
    box = trimesh.creation.box(extents=(0.5, 1.7, 0.3)).subdivide()
    vertices = np.asarray(box.vertices) + np.array([x_m, FLOOR_Y_M - 0.85, z_m])
    return vertices.astype(np.float32), np.asarray(box.faces, np.int64)


def tracks_rows(track_ids: Sequence[int]) -> Tracks:
    n = len(track_ids)
    return Tracks(
        track_id=np.asarray(track_ids, np.int64),
        state=np.full(n, TrackState.CONFIRMED, np.int8),
        age=np.zeros(n, np.int32),
        detection_index=np.arange(n, dtype=np.int64),
        xyxy_px=np.zeros((n, 4), np.float32),
        score=np.ones(n, np.float32),
        landmarks_px=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
        landmarks_world_m=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
    )


def frame_result(frame_index: int, people: Mapping[int, tuple[float, float]], meshes: bool = True) -> FrameResult:
    """One frame with a box person per track id at (x_m, z_m)."""
    ids = sorted(people)
    fields: dict[str, np.ndarray] = {}
    if meshes and ids:
        vertices = np.stack([person_mesh(*people[i])[0] for i in ids])
        fields["vertices_cam_m"] = vertices.astype(np.float16)
        fields["vertex_uncertainty_m"] = np.tile(
            np.linspace(0, 0.03, vertices.shape[1], dtype=np.float32), (len(ids), 1)
        )
    return FrameResult(frame_index, frame_index / 30.0, SIZE_WH, tracks_rows(ids), fields)


def write_faces(path: Path) -> None:
    root = zarr.open_group(LocalStore(path), mode="r+")
    root.create_array("body/faces", data=person_mesh(0, 0)[1])


def make_store(
    path: Path, frames: Sequence[Mapping[int, tuple[float, float]]], *, meshes: bool = True, faces: bool = True
) -> Path:
    """A complete store: ``frames[i]`` maps track id -> (x_m, z_m) of that person in frame i."""
    attrs = {"fps": 30.0, "intrinsics": INTRINSICS, "source": {"kind": "synthetic", "size_wh": list(SIZE_WH)}}
    with StoreWriter(path, attrs=attrs) as writer:
        for i, people in enumerate(frames):
            writer.write(frame_result(i, people, meshes))
    if faces and meshes:
        write_faces(path)
    return path


def read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def coloured_columns(image: np.ndarray) -> np.ndarray:
    """(W,) bool: columns holding saturated (mesh) pixels; the text box, grid and frustum are grey."""
    rgb = image.astype(int)
    saturated = rgb.max(axis=-1) - rgb.min(axis=-1) > 40
    return saturated[20:].any(axis=0)  # skip the status text at the top


@pytest.fixture
def two_people_store(tmp_path: Path) -> Path:
    """Three frames, person 1 left and person 2 right, 4 m away."""
    return make_store(tmp_path / "two.zarr", [{1: (-0.6, 4.0), 2: (0.6, 4.0)}] * 3)
