"""Pinhole camera maths for the synthetic renderer: pure, batch-first numpy functions.

Conventions (the same as :mod:`mocap.types`):

- world frame: Anny's, metres, z up, the floor at z = 0;
- camera frame ``_cam``: x right, y down, z forward (OpenCV), metres;
- pixels ``_px``: x right, y down, origin at the top-left *corner* of the top-left
  pixel, so pixel (i, j) covers [i, i+1) x [j, j+1) and its centre is (i+0.5, j+0.5).
  A centred principal point is therefore exactly (W/2, H/2).

Extrinsics map world to camera: ``p_cam = R @ p_world + t``.

Example:
    >>> K = intrinsics_from_fov(60.0, (640, 480))
    >>> R, t = look_at(np.array([[0.0, -4.0, 1.5]]), np.array([[0.0, 0.0, 1.0]]))
    >>> project_points(np.array([[[0.0, 0.0, 1.0]]]), K, R, t).round(3)
    array([[[320., 240.]]])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WORLD_UP = np.array([0.0, 0.0, 1.0])


def intrinsics_from_fov(fov_y_deg: float, size_wh: tuple[int, int]) -> FloatArray:
    """(3, 3) pinhole matrix with square pixels and a centred principal point.

    Args:
        fov_y_deg: vertical field of view in degrees, in (0, 180).
        size_wh: image (width, height) in pixels.

    Returns:
        K with ``fx = fy = (H / 2) / tan(fov_y / 2)`` and ``(cx, cy) = (W / 2, H / 2)``.
    """
    if not 0.0 < fov_y_deg < 180.0:
        raise ValueError(f"fov_y_deg must lie in (0, 180), but got {fov_y_deg}")
    width, height = size_wh
    focal_px = 0.5 * height / np.tan(np.radians(fov_y_deg) / 2.0)
    return np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(
    eye_world_m: FloatArray, target_world_m: FloatArray, up_world: FloatArray = WORLD_UP
) -> tuple[FloatArray, FloatArray]:
    """World-to-camera extrinsics of cameras at ``eye`` looking at ``target``.

    Args:
        eye_world_m: (B, 3) camera centres.
        target_world_m: (B, 3) points each camera looks at (they land on the principal point).
        up_world: (3,) the direction that appears up in the image (must not be parallel to the view).

    Returns:
        R: (B, 3, 3) rotations world -> camera; rows are the camera's x (right), y (down), z (forward) axes.
        t: (B, 3) translations in metres, ``t = -R @ eye``.
    """
    forward = target_world_m - eye_world_m
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, up_world)
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    if np.any(norm < 1e-9):
        raise ValueError("look_at: the view direction is parallel to up_world; choose another up vector")
    right = right / norm
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward], axis=-2)  # (B, 3, 3)
    translation = -np.einsum("bij,bj->bi", rotation, eye_world_m)
    return rotation, translation


def world_to_camera(points_world_m: FloatArray, rotation: FloatArray, translation_m: FloatArray) -> FloatArray:
    """(B, N, 3) world points -> (B, N, 3) camera-frame points, metres; R (B, 3, 3), t (B, 3)."""
    return np.einsum("bij,bnj->bni", rotation, points_world_m) + translation_m[:, None, :]


def camera_to_pixels(points_cam_m: FloatArray, intrinsics: FloatArray) -> FloatArray:
    """(B, N, 3) camera-frame points -> (B, N, 2) pixels; K is (3, 3) or (B, 3, 3). z must be > 0."""
    K = np.broadcast_to(intrinsics, (points_cam_m.shape[0], 3, 3))
    homogeneous = np.einsum("bij,bnj->bni", K, points_cam_m)
    return homogeneous[..., :2] / homogeneous[..., 2:3]


def project_points(
    points_world_m: FloatArray, intrinsics: FloatArray, rotation: FloatArray, translation_m: FloatArray
) -> FloatArray:
    """Project (B, N, 3) world points to (B, N, 2) pixels with K (3, 3) or (B, 3, 3), R (B, 3, 3), t (B, 3)."""
    return camera_to_pixels(world_to_camera(points_world_m, rotation, translation_m), intrinsics)


def camera_centres(rotation: FloatArray, translation_m: FloatArray) -> FloatArray:
    """(B, 3) camera centres in world metres: ``-R^T t``."""
    return -np.einsum("bji,bj->bi", rotation, translation_m)


def floor_mask(
    intrinsics: FloatArray,
    rotation: FloatArray,
    translation_m: FloatArray,
    size_wh: tuple[int, int],
    half_extent_m: float,
) -> npt.NDArray[np.bool_]:
    """(H, W) True where the ray through a pixel's centre hits the floor square ``|x|, |y| <= half_extent_m``, z = 0.

    Args:
        intrinsics: (3, 3) K; rotation (3, 3) and translation_m (3,) world -> camera, one camera.
        size_wh: image (width, height).
        half_extent_m: half the side of the square floor centred on the world origin.
    """
    width, height = size_wh
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)  # pixel centres, (H, W)
    rays_cam = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsics).T  # (H, W, 3)
    rays_world = rays_cam @ rotation  # R^T applied to each ray
    eye = camera_centres(rotation[None], translation_m[None])[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = -eye[2] / rays_world[..., 2]  # ray parameter at z = 0
    hit = eye[:2] + distance[..., None] * rays_world[..., :2]  # (H, W, 2)
    return (distance > 0) & (np.abs(hit) <= half_extent_m).all(axis=-1)
