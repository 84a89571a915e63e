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

from mocap.body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix

SHOULDERS, HIPS = [11, 12], [23, 24]  # BlazePose landmark indices


def weak_perspective_project(points_cam_m: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Points (B, J, 3) in metres, camera (B, 3) = (s, tx, ty) -> crop coordinates (B, J, 2) = s * (X[:2] + t)."""
    scale, shift = camera[:, None, :1], camera[:, None, 1:]  # (B, 1, 1), (B, 1, 2)
    return scale * (points_cam_m[..., :2] + shift)


def upright_angle(landmarks_crop: torch.Tensor) -> torch.Tensor:
    """In-plane turn (B,) in radians of the torso in crop landmarks (B, 33, >= 2; x right, y down).

    The angle that turns image-up (0, -1) onto the hips -> shoulders direction (mid-hips to mid-shoulders) about the
    camera's z axis: 0 for an upright body, +pi/2 lying head to the right, +-pi upside down; 0 when a pair is missing.
    """
    xy = landmarks_crop[..., :2]
    up = xy[:, SHOULDERS].nanmean(dim=1) - xy[:, HIPS].nanmean(dim=1)  # (B, 2)
    return torch.nan_to_num(torch.atan2(up[:, 0], -up[:, 1]))


def view_axis_rotation(angle_rad: torch.Tensor) -> torch.Tensor:
    """Angles (B,) -> rotations (B, 3, 3) about the camera's z axis (x right, y down: positive turns x onto y)."""
    cos, sin = torch.cos(angle_rad), torch.sin(angle_rad)
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    return torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], dim=-1).view(-1, 3, 3)


def turn_landmark_features(features: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Landmark features (B, L, F) seen through a camera turned by ``rotation`` (B, 3, 3) about its z axis: the crop
    x, y (features 0-1, about the crop centre) and, when F = 6, the world x, y, z (features 3-5) turn; visibility stays.
    """
    turned = features.clone()
    turned[..., :2] = features[..., :2] @ rotation[:, :2, :2].transpose(1, 2)
    if features.shape[-1] >= 6:
        turned[..., 3:6] = features[..., 3:6] @ rotation.transpose(1, 2)
    return turned


def turn_rotation_camera(
    rotation_6d: torch.Tensor, camera: torch.Tensor, rotation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A rotation 6D (B, 6) and weak-perspective camera (B, 3) predicted in a view turned about z, brought into the
    view turned by ``rotation`` (B, 3, 3) from it: R -> rotation R, (s, t) -> (s, rotation_xy t), because
    rotation_xy (s (X_xy + t)) = s ((rotation X)_xy + rotation_xy t) for a turn about the viewing axis."""
    turned = rotation @ rotation_6d_to_matrix(rotation_6d)  # (B, 3, 3)
    shift = camera[:, 1:, None]  # (B, 2, 1)
    return matrix_to_rotation_6d(turned), torch.cat([camera[:, :1], (rotation[:, :2, :2] @ shift)[..., 0]], dim=1)


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
