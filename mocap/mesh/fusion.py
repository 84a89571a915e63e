"""Fusion of MEGA's mesh with other estimates of the body's joints: the mesh moves a share of the way toward each.

MEGA's mesh, MediaPipe's 3-D world landmarks and the joint lifter's joints (``mocap.lifter``) are estimates of the
same body with partly independent errors, so a weighted mean beats each (an ensemble, as the mirrored view is). On
the 12 body joints, hip-centred, the defaults (``PolicyConfig.lift_share``, ``world_share``) are chosen on validation
renders; the figures are in models/lifter_anny/MODEL_CARD.md and models/mega_anny/MODEL_CARD.md ("Fusion").

The mesh moves by its joints: the 12 targets are ``joints + sum_i share_i * (estimate_i - joints)`` (all
hip-centred, so the hip centre, and with it the mesh's placement, stays), and each vertex moves by the displacement
``c`` of its joints blended by :func:`mocap.body.joint_weights.load_joint_weights` (V, 12), with ``c`` solved so that
the regressed joints land exactly on the targets. Frames: camera orientation (x right, y down, z forward), metres.

Example:
    >>> estimates = [(lifted_m, 0.8), (body_joints(landmarks_world_m), 0.1)]  # (B, 12, 3) each, and shares
    >>> fused = fuse_joint_estimates(vertices_m, estimates)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.joint_weights import BODY_JOINTS, load_joint_weights
from mocap.body.landmarks import load_landmark_regressor, regress_landmarks
from mocap.mega.evaluate import body_joints
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


def fuse_joint_estimates(
    vertices_m: torch.Tensor, estimates: Sequence[tuple[npt.NDArray[np.floating], float]]
) -> torch.Tensor:
    """MEGA's meshes (B, V, 3), camera orientation, moved toward other estimates of their 12 body joints.

    ``estimates``: pairs of (B, 12, 3) hip-centred joints and the share of the way to move toward them. An estimate's
    rows holding NaN (a detector that gave nothing) do not pull; rows nothing pulls are returned unchanged.
    """
    pulls = [(torch.from_numpy(np.asarray(joints, np.float32)), share) for joints, share in estimates if share != 0]
    if not pulls or not len(vertices_m):
        return vertices_m
    points = regress_landmarks(vertices_m)  # (B, 33, 3)
    joints = points[:, list(BODY_JOINTS)]  # (B, 12, 3)
    centred = joints - points[:, HIPS].mean(dim=1, keepdim=True)
    offset, pulled = torch.zeros_like(joints), torch.zeros(len(joints), dtype=torch.bool)
    for estimate, share in pulls:
        seen = torch.isfinite(estimate).all(dim=2).all(dim=1)  # (B,)
        offset[seen] += share * (estimate[seen] - centred[seen])
        pulled |= seen
    if not bool(pulled.any()):
        return vertices_m
    fused = vertices_m.clone()
    fused[pulled] = move_joints(vertices_m[pulled], joints[pulled], (joints + offset)[pulled], *_tables())
    return fused


def fuse_world_landmarks(
    vertices_m: torch.Tensor, landmarks_world_m: npt.NDArray[np.floating], share: float
) -> torch.Tensor:
    """MEGA's meshes (B, V, 3) moved ``share`` of the way toward the detector's world landmarks (B, 33, 3) at the 12
    body joints, both hip-centred (:func:`fuse_joint_estimates` with that one estimate)."""
    return fuse_joint_estimates(vertices_m, [(body_joints(landmarks_world_m), share)])
