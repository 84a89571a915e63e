"""Rotation conversions, batch-first, pure functions (torch; numpy for Euler angles).

Conventions:
    - Rotation matrices act on column vectors: ``x_world = R @ x_local``.
    - Axis-angle: (..., 3), direction = axis, norm = angle in radians.
    - Quaternions: (..., 4) as (w, x, y, z), scalar first, unit norm.
    - 6D: (..., 6) = the first two ROWS of the matrix, concatenated (pytorch3d's
      ``matrix_to_rotation_6d`` convention, Zhou et al., CVPR 2019).
    - Euler angles: intrinsic rotations in the given axis order, as BVH and ASF/AMC
      write them: order "ZXY" means ``R = Rz(a0) @ Rx(a1) @ Ry(a2)``.

Example:
    >>> R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 1.5708]]))
    >>> torch.allclose(matrix_to_axis_angle(R), torch.tensor([[0.0, 0.0, 1.5708]]), atol=1e-4)
    True
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

__all__ = [
    "axis_angle_to_matrix",
    "euler_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
]


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle in radians -> (..., 3, 3) rotation matrices (Rodrigues)."""
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)[..., None]  # (..., 1, 1)
    zero = torch.zeros_like(axis_angle[..., 0])
    x, y, z = axis_angle.unbind(-1)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape((*axis_angle.shape, 3))
    # sin(a)/a and (1-cos(a))/a^2 written with Taylor fallbacks so small angles keep exact gradients.
    small = angle < 1e-4
    safe = torch.where(small, torch.ones_like(angle), angle)
    sinc = torch.where(small, 1 - angle**2 / 6, torch.sin(safe) / safe)
    cosc = torch.where(small, 0.5 - angle**2 / 24, (1 - torch.cos(safe)) / safe**2)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sinc * skew + cosc * (skew @ skew)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3) axis-angle."""
    q = quaternion * torch.where(quaternion[..., :1] < 0, -1.0, 1.0)  # w >= 0: angle <= pi
    sin_half = torch.linalg.norm(q[..., 1:], dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    small = sin_half < 1e-6
    scale = torch.where(small, 2 / q[..., :1].clamp_min(1e-12), angle / sin_half.clamp_min(1e-12))
    return q[..., 1:] * scale


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3)."""
    w, x, y, z = F.normalize(quaternion, dim=-1).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape((*quaternion.shape[:-1], 3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Uses the numerically best of the four candidate formulas per element (Shepperd's method).
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace_terms = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    r = torch.sqrt(trace_terms.clamp_min(1e-12))  # (..., 4): 2|w|, 2|x|, 2|y|, 2|z|
    m21_m12, m02_m20, m10_m01 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    m21p12, m02p20, m10p01 = m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1]
    candidates = torch.stack(
        [
            torch.stack([r[..., 0] ** 2, m21_m12, m02_m20, m10_m01], dim=-1) / (2 * r[..., 0:1]),
            torch.stack([m21_m12, r[..., 1] ** 2, m10p01, m02p20], dim=-1) / (2 * r[..., 1:2]),
            torch.stack([m02_m20, m10p01, r[..., 2] ** 2, m21p12], dim=-1) / (2 * r[..., 2:3]),
            torch.stack([m10_m01, m02p20, m21p12, r[..., 3] ** 2], dim=-1) / (2 * r[..., 3:4]),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4)
    best = trace_terms.argmax(dim=-1)[..., None, None].expand((*m.shape[:-2], 1, 4))
    q = F.normalize(torch.gather(candidates, -2, best).squeeze(-2), dim=-1)
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) first two matrix rows -> (..., 3, 3) by Gram-Schmidt (pytorch3d convention)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two rows, concatenated (pytorch3d convention)."""
    return matrix[..., :2, :].reshape((*matrix.shape[:-2], 6))


def euler_to_matrix(angles_rad: npt.ArrayLike, order: str, extrinsic: bool = False) -> npt.NDArray[np.float64]:
    """(..., 3) Euler angles in radians, one per axis of ``order`` (e.g. "ZXY") -> (..., 3, 3).

    Intrinsic (default, BVH): "ZXY" gives ``Rz(a[...,0]) @ Rx(a[...,1]) @ Ry(a[...,2])``.
    Extrinsic (ASF/AMC "XYZ": x applied first about fixed axes): ``Rz(a[...,2]) @ Ry(a[...,1]) @ Rx(a[...,0])``.
    """
    angles = np.asarray(angles_rad, dtype=np.float64)
    flat = angles.reshape(-1, 3)
    matrices = Rotation.from_euler(order.lower() if extrinsic else order.upper(), flat).as_matrix()
    return matrices.reshape((*angles.shape[:-1], 3, 3))


def matrix_to_euler(matrix: npt.ArrayLike, order: str) -> npt.NDArray[np.float64]:
    """(..., 3, 3) -> (..., 3) intrinsic Euler angles in radians in ``order``; inverse of :func:`euler_to_matrix`."""
    m = np.asarray(matrix, dtype=np.float64)
    with warnings.catch_warnings():  # at gimbal lock scipy zeroes the third angle: still an exact decomposition
        warnings.simplefilter("ignore", UserWarning)
        angles = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_euler(order.upper())
    return angles.reshape((*m.shape[:-2], 3))
