"""Fusion of MEGA's mesh with the detector's 3-D world landmarks: the mesh moves a share of the way toward them.

MEGA's mesh and MediaPipe's world landmarks are two estimates of the same body with partly independent errors, so a
weighted mean of the two beats either (an ensemble, as the mirrored view is). On the 12 body joints, hip-centred:
with ``share`` 0.2, on validation renders MPJPE 105.3 -> 104.3 mm and PA-MPJPE 70.1 -> 67.4, on the test renders
118.9 -> 115.0 and 69.7 -> 66.3 (models/mega_anny/MODEL_CARD.md, "World-landmark fusion").

The mesh moves by its joints: the 12 targets are ``joints + share * (world - joints)`` (both hip-centred, so the
hip centre, and with it the mesh's placement, stays), and each vertex moves by the displacement ``c`` of its
joints blended by :func:`mocap.body.joint_weights.load_joint_weights` (V, 12), with ``c`` solved so that the
regressed joints land exactly on the targets. Frames: camera orientation (x right, y down, z forward), metres.

Example:
    >>> fused = fuse_world_landmarks(vertices_m, landmarks_world_m, share=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.joint_weights import BODY_JOINTS, load_joint_weights
from mocap.body.landmarks import load_landmark_regressor, regress_landmarks
from mocap.mega.geometry import HIPS  # BlazePose left and right hip


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[torch.Tensor, torch.Tensor]:
    """(joint weights W (V, 12), their coupling R W (12, 12) through the joints' regressor rows R), float32."""
    weights = torch.from_numpy(load_joint_weights())
    regressor = torch.from_numpy(load_landmark_regressor()[list(BODY_JOINTS)].toarray().astype(np.float32))
    return weights, regressor @ weights


def move_joints(
    vertices_m: torch.Tensor,
    joints_m: torch.Tensor,
    targets_m: torch.Tensor,
    weights: torch.Tensor,
    coupling: torch.Tensor,
) -> torch.Tensor:
    """(B, V, 3) meshes whose J joints (B, J, 3), regressed by rows R, move to ``targets_m`` (B, J, 3).

    Each vertex moves by ``weights`` (V, J) @ c, with c (B, J, 3) solving ``coupling`` (J, J) = R @ weights times
    c = targets - joints, so the regressed joints land on the targets (the system is well conditioned when each
    joint's own vertices weigh mostly on it).
    """
    b, v, _ = vertices_m.shape
    c = torch.linalg.solve(coupling, targets_m - joints_m)  # (B, J, 3)
    # Vertex-major (V, J) @ (J, B*3): one plain matmul (a batched one with 3 columns is several times slower).
    return vertices_m + (weights @ c.transpose(0, 1).reshape(-1, b * 3)).view(v, b, 3).transpose(0, 1)


def fuse_world_landmarks(
    vertices_m: torch.Tensor, landmarks_world_m: npt.NDArray[np.floating], share: float
) -> torch.Tensor:
    """MEGA's meshes (B, V, 3), camera orientation, moved ``share`` of the way toward the world landmarks (B, 33, 3)
    at the 12 body joints, both hip-centred. Rows whose body joints or hips the detector did not give (NaN) stay."""
    world = torch.from_numpy(np.asarray(landmarks_world_m, np.float32))[:, list(BODY_JOINTS) + HIPS]  # (B, 14, 3)
    seen = torch.isfinite(world).all(dim=2).all(dim=1)  # (B,)
    if share == 0 or not bool(seen.any()):
        return vertices_m
    world = world[seen]
    moved = vertices_m[seen]  # (M, V, 3)
    points = regress_landmarks(moved)  # (M, 33, 3)
    joints, hip = points[:, list(BODY_JOINTS)], points[:, HIPS].mean(dim=1, keepdim=True)  # (M, 12, 3), (M, 1, 3)
    targets = joints + share * (world[:, :12] - world[:, 12:].mean(dim=1, keepdim=True) + hip - joints)
    fused = vertices_m.clone()
    fused[seen] = move_joints(moved, joints, targets, *_tables())
    return fused
