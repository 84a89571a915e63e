"""Exact ground truth of a synthetic frame: boxes, landmark visibility, and the :class:`FrameResult` we store.

Visibility comes from the renderer's per-person depth maps: a landmark is hidden when it
projects outside the image (or behind the camera), or when another person's surface is nearer
to the camera at its pixel than the person's own surface there. Self-occlusion (a wrist
behind one's own back) does not count: MediaPipe still predicts such landmarks.

Example:
    >>> visible = landmark_visibility(landmarks_px, landmarks_cam_m, rendering.depth_m)  # doctest: +SKIP
    >>> visible.shape  # doctest: +SKIP
    (2, 33)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mocap.types import FrameResult, Tracks, TrackState

FloatArray = npt.NDArray[np.floating]

OCCLUSION_TOLERANCE_M = 0.02  # bodies in contact: closer than this does not count as in front


def in_frame(points_px: FloatArray, depth_m: FloatArray, size_wh: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """(..., 2) pixels and (...) camera depths -> (...) True inside the image and in front of the camera."""
    width, height = size_wh
    x, y = points_px[..., 0], points_px[..., 1]
    return (depth_m > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)


def landmark_visibility(
    landmarks_px: FloatArray,
    landmarks_cam_m: FloatArray,
    depth_m: FloatArray,
    tolerance_m: float = OCCLUSION_TOLERANCE_M,
) -> npt.NDArray[np.bool_]:
    """Which landmarks the camera sees, occlusion by *other* people and the image border considered.

    Args:
        landmarks_px: (P, L, 2) projected landmarks, pixels.
        landmarks_cam_m: (P, L, 3) the same landmarks in the camera frame, metres.
        depth_m: (P, H, W) each person's depth rendered alone, 0 where it covers nothing.
        tolerance_m: how much nearer another surface must be to hide a landmark.

    Returns:
        (P, L) bool.
    """
    people, height, width = depth_m.shape
    visible = in_frame(landmarks_px, landmarks_cam_m[..., 2], (width, height))  # (P, L)
    col = np.clip(np.floor(landmarks_px[..., 0]).astype(np.int64), 0, width - 1)
    row = np.clip(np.floor(landmarks_px[..., 1]).astype(np.int64), 0, height - 1)
    at_landmarks = depth_m[:, row, col]  # (Q, P, L): person q's depth at person p's landmark pixels
    at_landmarks = np.where(at_landmarks > 0, at_landmarks, np.inf)
    own = np.diagonal(at_landmarks, axis1=0, axis2=1).T  # (P, L)
    # A landmark just outside its own silhouette (a fingertip on the edge) is compared at its own depth.
    own = np.where(np.isfinite(own), own, landmarks_cam_m[..., 2])
    others = at_landmarks.copy()
    others[np.arange(people), np.arange(people)] = np.inf
    nearest_other = others.min(axis=0) if people else own  # (P, L)
    return visible & ~(nearest_other < own - tolerance_m)


def visible_pixel_fraction(depth_m: FloatArray, tolerance_m: float = OCCLUSION_TOLERANCE_M) -> FloatArray:
    """(P, H, W) per-person depths -> (P,) share of each silhouette that no other person covers (0 when unseen)."""
    covered = depth_m > 0
    depth = np.where(covered, depth_m, np.inf)
    fractions = np.zeros(len(depth_m), np.float32)
    for p in range(len(depth_m)):
        others = np.delete(depth, p, axis=0).min(axis=0) if len(depth) > 1 else np.full(depth.shape[1:], np.inf)
        area = covered[p].sum()
        if area:
            fractions[p] = (covered[p] & ~(others < depth[p] - tolerance_m)).sum() / area
    return fractions


def clipped_boxes_px(points_px: FloatArray, size_wh: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(P, N, 2) projected points -> (P, 4) boxes (x0, y0, x1, y1) around them, clipped to the image."""
    width, height = size_wh
    low, high = points_px.min(axis=1), points_px.max(axis=1)  # (P, 2)
    limits = np.array([width, height], np.float64)
    return np.concatenate([np.clip(low, 0, limits), np.clip(high, 0, limits)], axis=1).astype(np.float32)


@dataclass(frozen=True, eq=False)
class PeopleFrame:
    """Ground truth of P people in one frame (camera frame, metres, unless named otherwise).

    Attributes:
        person_id: (P,) int64 ids from 1, stable over the clip.
        vertices_cam_m: (P, V, 3) posed mesh.
        joints_cam_m: (P, J, 3) bone heads of the body model.
        landmarks_cam_m: (P, 33, 3) BlazePose landmarks regressed from the mesh.
        landmarks_px: (P, 33, 2) their projections.
        vertices_px: (P, V, 2) projected vertices (for the boxes).
        pose_rotmat: (P, J, 3, 3) local bone rotations; transl_world_m (P, 3) root position; phenotype (P, 6).
        intrinsics: (3, 3) K; rotation (3, 3) and translation_m (3,) world -> camera.
    """

    person_id: npt.NDArray[np.int64]
    vertices_cam_m: FloatArray
    joints_cam_m: FloatArray
    landmarks_cam_m: FloatArray
    landmarks_px: FloatArray
    vertices_px: FloatArray
    pose_rotmat: FloatArray
    transl_world_m: FloatArray
    phenotype: FloatArray
    intrinsics: FloatArray
    rotation: FloatArray
    translation_m: FloatArray


def frame_result(
    frame_index: int, time_s: float, size_wh: tuple[int, int], people: PeopleFrame, depth_m: FloatArray
) -> FrameResult:
    """Package one frame's ground truth as a :class:`FrameResult`, the unit the store writes.

    ``Tracks`` carries the person id as ``track_id``, the projected-mesh box, and the landmarks
    with their ground-truth visibility (1 or 0) as the third column of ``landmarks_px``;
    ``landmarks_world_m`` follows MediaPipe's world convention (camera axes, origin midway
    between the hips, landmarks 23 and 24). Everything else goes into ``track_fields``.
    """
    count = len(people.person_id)
    visible = landmark_visibility(people.landmarks_px, people.landmarks_cam_m, depth_m)  # (P, 33)
    hips_cam_m = people.landmarks_cam_m[:, 23:25].mean(axis=1, keepdims=True)  # (P, 1, 3)
    tracks = Tracks(
        track_id=people.person_id.astype(np.int64),
        state=np.full(count, TrackState.CONFIRMED, np.int8),
        age=np.full(count, frame_index, np.int32),
        detection_index=np.full(count, -1, np.int64),
        xyxy_px=clipped_boxes_px(people.vertices_px, size_wh),
        score=np.ones(count, np.float32),
        landmarks_px=np.concatenate([people.landmarks_px, visible[..., None]], axis=-1).astype(np.float32),
        landmarks_world_m=(people.landmarks_cam_m - hips_cam_m).astype(np.float32),
    )

    def per_person(array: FloatArray) -> npt.NDArray[np.float32]:
        return np.broadcast_to(np.asarray(array, np.float32), (count, *np.shape(array))).copy()

    fields: dict[str, np.ndarray] = {
        "vertices_cam_m": people.vertices_cam_m.astype(np.float16),
        "joints_cam_m": people.joints_cam_m.astype(np.float32),
        "landmarks_cam_m": people.landmarks_cam_m.astype(np.float32),
        "landmarks_visible": visible,
        "visible_pixel_fraction": visible_pixel_fraction(depth_m),
        "pose_rotmat": people.pose_rotmat.astype(np.float32),
        "transl_world_m": people.transl_world_m.astype(np.float32),
        "phenotype": people.phenotype.astype(np.float32),
        "intrinsics": per_person(people.intrinsics),
        "rotation_world_to_cam": per_person(people.rotation),
        "translation_world_to_cam_m": per_person(people.translation_m),
    }
    return FrameResult(frame_index=frame_index, time_s=time_s, size_wh=size_wh, tracks=tracks, track_fields=fields)
