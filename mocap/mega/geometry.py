"""Weak-perspective camera maths of the MEGA rotation/camera head: pure, batch-first functions.

Frames: "canonical" = the tokenizer's body frame (vertex-mean-centred, metres); "cam" = camera frame (x right,
y down, z forward); "crop" = 2-D coordinates in [-1, 1] over the square crop (x right, y down).
Rotations (6D = first two rows, pytorch3d convention, as in MEGA) live in ``mocap.body.rotations``.

Example:
    >>> weak_perspective_project(torch.tensor([[[0.5, -1.0, 3.0]]]), torch.tensor([[2.0, 0.1, 0.2]]))
    tensor([[[ 1.2000, -1.6000]]])
"""

from __future__ import annotations

import torch


def weak_perspective_project(points_cam_m: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Points (B, J, 3) in metres, camera (B, 3) = (s, tx, ty) -> crop coordinates (B, J, 2) = s * (X[:2] + t)."""
    scale, shift = camera[:, None, :1], camera[:, None, 1:]  # (B, 1, 1), (B, 1, 2)
    return scale * (points_cam_m[..., :2] + shift)


def geodesic_angle(R_a: torch.Tensor, R_b: torch.Tensor) -> torch.Tensor:
    """Angle (...,) in radians of R_a^T R_b, for reporting rotation errors."""
    trace = (R_a.transpose(-1, -2) @ R_b).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0))


def crop_camera_to_translation(
    camera: torch.Tensor,
    center_px: torch.Tensor,
    size_px: torch.Tensor,
    focal_px: torch.Tensor,
    principal_px: torch.Tensor,
) -> torch.Tensor:
    """Weak-perspective crop camera -> camera-frame translation (B, 3) in metres of the (vertex-mean) body centre.

    camera (B, 3) = (s, tx, ty); crop centre (B, 2) px and side (B,) px in the full image; focal (B,) px; principal
    point (B, 2) px. Matching u = cx + s (X + tx) size / 2 with the pinhole u = u0 + f (X + T_x) / T_z at the body
    centre gives T_z = 2 f / (s size) and T_xy = t + (c - u0) T_z / f (MEGA/HMR2 ``cam_crop_to_full``).
    """
    scale, shift = camera[:, 0], camera[:, 1:]  # (B,), (B, 2)
    depth = 2.0 * focal_px / (scale * size_px).clamp_min(1e-9)  # (B,)
    xy = shift + (center_px - principal_px) * (depth / focal_px)[:, None]  # (B, 2)
    return torch.cat([xy, depth[:, None]], dim=1)
