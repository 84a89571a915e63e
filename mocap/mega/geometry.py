"""Rotation (6D) and weak-perspective camera maths of the MEGA heads: pure, batch-first functions.

Frames: "canonical" = the tokenizer's body frame (vertex-mean-centred, metres); "cam" = camera frame (x right,
y down, z forward); "crop" = 2-D coordinates in [-1, 1] over the square crop (x right, y down).
The 6D rotation is the first two ROWS of the matrix, flattened (pytorch3d's ``matrix_to_rotation_6d``), as in MEGA.

Example:
    >>> R = rotation_6d_to_matrix(torch.tensor([[1.0, 0, 0, 0, 1, 0]]))
    >>> torch.equal(R, torch.eye(3)[None])
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def rotation_6d_to_matrix(rotation_6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two rows (Zhou et al. 2019; pytorch3d convention)."""
    a1, a2 = rotation_6d[..., :3], rotation_6d[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)  # rows


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two rows."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis * angle (rad) -> (..., 3, 3) by Rodrigues' formula."""
    angle = axis_angle.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (..., 1)
    x, y, z = (axis_angle / angle).unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*x.shape, 3, 3)  # cross-product matrix
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]  # (..., 1, 1)
    return torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device) + s * K + (1 - c) * (K @ K)


def euler_zyx_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles (B,) rad -> R = Rz(yaw) @ Ry(pitch) @ Rx(roll), (B, 3, 3)."""
    axes = torch.eye(3, dtype=yaw.dtype, device=yaw.device)
    Rz = axis_angle_to_matrix(axes[2] * yaw[:, None])
    Ry = axis_angle_to_matrix(axes[1] * pitch[:, None])
    Rx = axis_angle_to_matrix(axes[0] * roll[:, None])
    return Rz @ Ry @ Rx


def weak_perspective_project(points_cam_m: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Points (B, J, 3) in metres, camera (B, 3) = (s, tx, ty) -> crop coordinates (B, J, 2) = s * (X[:2] + t)."""
    scale, shift = camera[:, None, :1], camera[:, None, 1:]  # (B, 1, 1), (B, 1, 2)
    return scale * (points_cam_m[..., :2] + shift)


def geodesic_angle(R_a: torch.Tensor, R_b: torch.Tensor) -> torch.Tensor:
    """Angle (...,) in radians of R_a^T R_b, for reporting rotation errors."""
    trace = (R_a.transpose(-1, -2) @ R_b).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0))


DEG = math.pi / 180
