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
