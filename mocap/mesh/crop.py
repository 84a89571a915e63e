"""Square person crops and the weak-perspective camera that lives in them.

One definition serves training and inference (so the two agree by construction):
a crop is a square of side ``size_px`` centred at ``center_px`` in the image; crop
coordinates map it to [-1, 1] on both axes (x right, y down, like pixels).

MEGA predicts a weak-perspective camera (s, tx, ty) per crop: a point X (metres, camera
axes, relative to the mesh's vertex centroid) lands at ``u = s * (X_xy + (tx, ty))`` in
crop coordinates. Matching that to a pinhole camera at the crop centre's depth gives the
full-image translation (the HMR / 4D-Humans ``cam_crop_to_full`` relation):
``tz = 2 f / (size s)``, ``(Tx, Ty) = (tx, ty) + (center - principal) * tz / f``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

CROP_EXPAND = 1.25  # side of the crop / longest side of the person's landmark box
MIN_VISIBILITY = 0.3  # landmarks below this do not define the crop


def square_crops(
    landmarks_px: npt.NDArray[np.floating], xyxy_px: npt.NDArray[np.floating], expand: float = CROP_EXPAND
) -> tuple[Array, Array]:
    """Square crops around people: landmarks (N, 33, 3) px + visibility, fallback boxes (N, 4).

    Returns ``center_px`` (N, 2) and ``size_px`` (N,). The box around the visible
    landmarks is used (the detector's box when fewer than 4 are visible), made square
    on its longest side and expanded by ``expand`` so hands and feet stay inside.
    """
    landmarks = np.asarray(landmarks_px, np.float64)
    boxes = np.asarray(xyxy_px, np.float64).copy()
    visible = (landmarks[..., 2] >= MIN_VISIBILITY) & np.isfinite(landmarks[..., 0])  # (N, 33)
    for i in np.flatnonzero(visible.sum(axis=1) >= 4):
        xy = landmarks[i, visible[i], :2]
        boxes[i] = [*xy.min(axis=0), *xy.max(axis=0)]
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * expand
    return center, np.maximum(size, 1.0)


def to_crop(points_px: npt.NDArray[np.floating], center_px: Array, size_px: Array) -> Array:
    """Pixels (N, K, 2) -> crop coordinates (N, K, 2), [-1, 1] inside the crop."""
    return (np.asarray(points_px, np.float64) - center_px[:, None]) / (size_px[:, None, None] / 2)


def from_crop(points_crop: npt.NDArray[np.floating], center_px: Array, size_px: Array) -> Array:
    """Crop coordinates (N, K, 2) -> pixels (N, K, 2); the inverse of :func:`to_crop`."""
    return np.asarray(points_crop, np.float64) * (size_px[:, None, None] / 2) + center_px[:, None]


def weak_perspective_to_translation(
    camera: npt.NDArray[np.floating], center_px: Array, size_px: Array, focal_px: Array, principal_px: Array
) -> Array:
    """Crop camera (N, 3) = (s, tx, ty) -> translation of the mesh centroid in the camera frame (N, 3), metres.

    ``focal_px`` (N,) and ``principal_px`` (N, 2) are the full image's intrinsics.
    """
    camera = np.asarray(camera, np.float64)
    scale = np.maximum(camera[:, 0], 1e-6)
    tz = 2 * focal_px / (size_px * scale)
    txy = camera[:, 1:] + (center_px - principal_px) * (tz / focal_px)[:, None]
    return np.concatenate([txy, tz[:, None]], axis=1)


def translation_to_weak_perspective(
    translation_m: npt.NDArray[np.floating], center_px: Array, size_px: Array, focal_px: Array, principal_px: Array
) -> Array:
    """Inverse of :func:`weak_perspective_to_translation`: the crop camera that a training target needs."""
    translation = np.asarray(translation_m, np.float64)
    tz = translation[:, 2]
    scale = 2 * focal_px / (size_px * tz)
    txy = translation[:, :2] - (center_px - principal_px) * (tz / focal_px)[:, None]
    return np.concatenate([scale[:, None], txy], axis=1)


def default_intrinsics(size_wh: tuple[int, int]) -> Array:
    """A pinhole matrix (3, 3) for an unknown camera: f = max(W, H) (a ~53 degree field of view,
    typical of webcams and phones), principal point at the image centre."""
    width, height = size_wh
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
