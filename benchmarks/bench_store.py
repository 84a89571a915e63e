"""A synthetic run store for the viewer and render benchmarks: Anny meshes walking sideways in front of the camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr
from zarr.storage import LocalStore


def write_store(
    path: Path, people: int, frames: int, size_wh: tuple[int, int], mesh: np.ndarray, faces: np.ndarray
) -> None:
    """``people`` Anny meshes walking sideways 5 m away, with uncertainty and smoothed vertices, ``body/faces``."""
    from mocap.io.store import StoreWriter
    from mocap.types import NUM_LANDMARKS, FrameResult, Tracks

    n = people
    tracks = Tracks(
        track_id=np.arange(1, n + 1, dtype=np.int64),
        state=np.ones(n, np.int8),
        age=np.zeros(n, np.int32),
        detection_index=np.arange(n, dtype=np.int64),
        xyxy_px=np.zeros((n, 4), np.float32),
        score=np.ones(n, np.float32),
        landmarks_px=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
        landmarks_world_m=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
    )
    offsets = np.stack([np.linspace(-1.5, 1.5, n), np.zeros(n), np.full(n, 5.0)], axis=1)  # (n, 3) metres
    attrs = {"fps": 30.0, "source": {"kind": "bench", "size_wh": list(size_wh)}}
    with StoreWriter(path, attrs=attrs) as writer:
        for i in range(frames):
            step = np.array([0.01 * i, 0.0, 0.0])
            vertices = (mesh[None] + (offsets + step)[:, None]).astype(np.float16)  # (n, V, 3)
            fields = {
                "vertices_cam_m": vertices,
                "vertices_smoothed_cam_m": vertices,
                "vertex_uncertainty_m": np.full(vertices.shape[:2], 0.01, np.float32),
            }
            writer.write(FrameResult(i, i / 30.0, size_wh, tracks, fields))
    zarr.open_group(LocalStore(path), mode="r+").create_array("body/faces", data=np.asarray(faces, np.int64))
