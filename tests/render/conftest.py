"""Small run stores with box-shaped "people" (``body/faces``) and matching textured clips for the overlay tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from mocap.io.store import StoreWriter
from mocap.io.video_writer import VideoWriter
from mocap.types import FrameResult
from tests.view.conftest import INTRINSICS, SIZE_WH, person_mesh, tracks_rows, write_faces

Z_M = 4.0  # every box stands 4 m in front of the camera


def x_of(frame_index: int, track_id: int) -> float:
    """Where a track's box stands in a frame (metres, camera x): it walks right 0.2 m per frame."""
    return -1.2 + 0.2 * frame_index + 0.9 * (track_id - 1)


def box_vertices(frame_index: int, track_id: int, dx_m: float = 0.0) -> npt.NDArray[np.float32]:
    """(V, 3) camera-frame vertices of ``track_id``'s box in ``frame_index``, moved ``dx_m`` sideways."""
    return person_mesh(x_of(frame_index, track_id) + dx_m, Z_M)[0]


def projected_mask(
    vertices_m: npt.NDArray[np.floating], intrinsics: npt.NDArray[np.float64] = INTRINSICS
) -> npt.NDArray[np.bool_]:
    """(H, W) True where the (V, 3) box projects: the convex hull of its projected vertices (a box is convex)."""
    uvw = np.asarray(vertices_m, np.float64) @ intrinsics.T
    uv = uvw[:, :2] / uvw[:, 2:] - 0.5  # OpenCV puts pixel centres at integers, mocap at +0.5
    hull = cv2.convexHull(np.round(uv * 16).astype(np.int32))
    mask = np.zeros((SIZE_WH[1], SIZE_WH[0]), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, shift=4)
    return mask.astype(bool)


def make_run(
    path: Path,
    people: Mapping[int, list[int]],
    *,
    uncertainty_m: float | None = 0.01,
    smoothed_dx_m: float | None = None,
    meshes: bool = True,
    intrinsics: npt.NDArray[np.float64] = INTRINSICS,
) -> Path:
    """A complete store: ``people[frame_index]`` lists the track ids present (frame indices may have gaps).

    ``smoothed_dx_m`` adds ``vertices_smoothed_cam_m``: the raw boxes moved that far sideways.
    """
    attrs = {"fps": 30.0, "intrinsics": intrinsics, "source": {"kind": "video", "size_wh": list(SIZE_WH)}}
    with StoreWriter(path, attrs=attrs) as writer:
        for frame_index in sorted(people):
            ids = sorted(people[frame_index])
            fields: dict[str, np.ndarray] = {}
            if meshes and ids:
                vertices = np.stack([box_vertices(frame_index, i) for i in ids])  # (N, V, 3)
                fields["vertices_cam_m"] = vertices.astype(np.float16)
                if smoothed_dx_m is not None:
                    smoothed = [box_vertices(frame_index, i, smoothed_dx_m) for i in ids]
                    fields["vertices_smoothed_cam_m"] = np.stack(smoothed).astype(np.float16)
                if uncertainty_m is not None:
                    fields["vertex_uncertainty_m"] = np.full(vertices.shape[:2], uncertainty_m)
            writer.write(FrameResult(frame_index, frame_index / 30.0, SIZE_WH, tracks_rows(ids), fields))
    if meshes:
        write_faces(path)
    return path


def background(frame_index: int, size_wh: tuple[int, int] = SIZE_WH) -> npt.NDArray[np.uint8]:
    """(H, W, 3) a smooth, mid-grey, slowly changing texture: codec noise stays small, tints stand out."""
    w, h = size_wh
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 110 + 25 * np.sin(x / 17 + frame_index / 3) + 20 * np.cos(y / 23)  # (H, W)
    image = np.stack([base, base + 10, base - 10], axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_clip(path: Path, num_frames: int, size_wh: tuple[int, int] = SIZE_WH) -> Path:
    with VideoWriter(path, 30.0, size_wh, crf=12) as writer:
        for i in range(num_frames):
            writer.write(background(i, size_wh))
    return path


def read_video(path: Path) -> list[npt.NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        return [np.asarray(frame.to_ndarray(format="rgb24"), np.uint8) for frame in container.decode(video=0)]
