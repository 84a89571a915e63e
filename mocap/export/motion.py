"""Fitted Anny parameters (camera frame) -> joint motion of an export rig in a Y-up world.

World for animators (BVH convention): metres, **Y up**, X = the camera's right, Z toward the
camera (right-handed). Up is assumed to be the camera's -y: gravity along camera +y, i.e. a level
camera (a tilted camera tilts the floor by the same angle; it is not estimated). The floor
(Y = 0) is put at the ankle height below the track's lowest ankles (5th percentile, robust to a
few bad frames), and X/Z are centred on the first frame's root, so clips start at the origin.

Rigs: ``default`` is Anny's own 104-bone skeleton. ``cmu_mb``, ``mixamo`` and ``game_engine`` are
the rigs anny ships, on the same mesh and rest pose: each of their bones turns like the default
bone with the nearest rest head among those that share its vertices (skinning-weight overlap
``sum_v w_rig[v, b] w_default[v, k]`` at least 10 % of the best), so a rig's hand turns with the
wrist, not with a metacarpal; bones without vertices follow the default bone nearest their head,
and the rig's root always follows Anny's root.

Example:
    >>> rig_motion = export_motion(params, AnnyBody())     # doctest: +SKIP
    >>> rig_motion.joints_world_m().shape                    # doctest: +SKIP
    (T, 104, 3)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.base import BodyParams

ANKLE_HEIGHT_M: Final = 0.07  # Anny's ankle joint above the floor when standing
# Camera frame (x right, y down, z forward) -> Y-up world (x right, y up, z toward the camera).
CAMERA_TO_WORLD: Final = np.diag([1.0, -1.0, -1.0])
# Anny's rest axes (z up, facing -y) -> BVH rest axes (y up, facing +z).
ANNY_TO_BVH: Final = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


@dataclass(frozen=True, eq=False)
class RigMotion:
    """Joint motion of one rig in the export world (Y up, metres).

    Attributes:
        names: J bone names, parents first; parents: (J,) -1 for the root.
        rest_m: (J, 3) rest joint positions, BVH rest axes (Y up, facing +Z), root at the origin.
        world_rotmat: (T, J, 3, 3) each bone's rotation from its rest, export world.
        root_m: (T, 3) root joint position, export world.
    """

    names: tuple[str, ...]
    parents: npt.NDArray[np.int64]
    rest_m: npt.NDArray[np.float64]
    world_rotmat: npt.NDArray[np.float64]
    root_m: npt.NDArray[np.float64]

    def local_rotmat(self) -> npt.NDArray[np.float64]:
        """(T, J, 3, 3) rotations relative to the parent: ``G_parent^T G_j``, root = ``G_root``."""
        local = self.world_rotmat.copy()
        local[:, 1:] = np.swapaxes(self.world_rotmat[:, self.parents[1:]], -1, -2) @ self.world_rotmat[:, 1:]
        return local

    def joints_world_m(self) -> npt.NDArray[np.float64]:
        """(T, J, 3) joint positions by forward kinematics ``p_j = p_parent + G_parent (rest_j - rest_parent)``."""
        joints = np.empty((*self.world_rotmat.shape[:2], 3))
        joints[:, 0] = self.root_m
        for j in range(1, len(self.names)):
            p = self.parents[j]
            joints[:, j] = joints[:, p] + self.world_rotmat[:, p] @ (self.rest_m[j] - self.rest_m[p])
        return joints


def world_rotations(local_rotmat: torch.Tensor, parents: npt.NDArray[np.int64]) -> torch.Tensor:
    """(T, J, 3, 3) local-ref rotations -> (T, J, 3, 3) rotations from rest ``G_j = G_parent R_j``."""
    world = list(local_rotmat.unbind(1))
    for j in range(1, len(world)):
        world[j] = world[int(parents[j])] @ world[j]
    return torch.stack(world, dim=1)


def floor_shift_m(ankles_world_m: npt.NDArray[np.float64], root_m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(T, A, 3) ankle positions and (T, 3) root path in the Y-up world -> (3,) shift putting the floor
    at Y = 0 (lowest ankles, 5th percentile, at ANKLE_HEIGHT_M) and the first root above the origin."""
    lowest = np.percentile(ankles_world_m[..., 1].min(axis=1), 5)
    return np.array([-root_m[0, 0], ANKLE_HEIGHT_M - lowest, -root_m[0, 2]])


@functools.lru_cache(maxsize=8)
def bone_map(rig: str) -> tuple[int, ...]:
    """Per bone of ``rig``: the default-rig bone it turns with (see the module docstring)."""
    default, target = AnnyBody("default"), AnnyBody(rig)
    if rig == "default":
        return tuple(range(len(default.joint_names)))
    w_default, w_target = _dense_weights(default), _dense_weights(target)
    overlap = w_target.T @ w_default  # (J_rig, J_default)
    heads_default = _rest_joints(default)
    heads_target = _rest_joints(target)
    distance = torch.cdist(heads_target, heads_default)  # (J_rig, J_default)
    shares = overlap >= 0.1 * overlap.max(1, keepdim=True).values
    shares[overlap.max(1).values <= 0] = True  # no vertices: any bone, the nearest wins
    mapping = torch.where(shares, distance, torch.inf).argmin(1)
    mapping[0] = 0  # roots turn together (game_engine's floor-level root has no vertices of its own)
    return tuple(mapping.tolist())


def _dense_weights(body: AnnyBody) -> torch.Tensor:
    model = body.model
    dense = torch.zeros(body.num_vertices, len(body.joint_names))
    return dense.scatter_add_(1, model.vertex_bone_indices.cpu(), model.vertex_bone_weights.cpu().float())


def _rest_joints(body: AnnyBody, phenotype: torch.Tensor | None = None) -> torch.Tensor:
    """(J, 3) rest joint positions relative to the rest mesh's vertex mean, Anny axes, for
    ``phenotype`` (1, 6) (neutral when None). Rigs place the same mesh differently (``game_engine``
    has its root on the floor), so heads are compared in the mesh's own frame."""
    from mocap.body.anny_body import neutral_phenotypes

    phen = neutral_phenotypes(1) if phenotype is None else phenotype.reshape(1, -1).float()
    with torch.no_grad():
        out = body.forward(body.identity_pose(1), phen)
    return out.joints_m[0] - out.vertices_m[0].mean(0)


@torch.no_grad()
def export_motion(params: BodyParams, rig_body: AnnyBody) -> RigMotion:
    """Fitted default-rig params (camera frame, phenotype (1, 6)) -> :class:`RigMotion` of ``rig_body``'s rig."""
    default = AnnyBody("default")
    phenotype = params.phenotype.reshape(1, -1)[:1].float()
    g_cam = world_rotations(params.pose_rotmat.float(), default.parents).double().numpy()  # (T, 104, 3, 3)
    rest_default = _rest_joints(default, phenotype).double().numpy()
    joints_cam = default.forward(params.pose_rotmat.float(), phenotype.expand(len(params), -1), params.transl_m)
    joints_cam_np = joints_cam.joints_m.double().numpy()  # (T, 104, 3)
    mapping = np.asarray(bone_map(rig_body.rig))
    rest_rig = _rest_joints(rig_body, phenotype).double().numpy()
    # The rig's root head rides on its mapped default bone k: p = p_k + G_k (h - rest_k).
    k = mapping[0]
    root_cam = joints_cam_np[:, k] + g_cam[:, k] @ (rest_rig[0] - rest_default[k])
    c_cam, c_rest = CAMERA_TO_WORLD, ANNY_TO_BVH
    world_rot = c_cam @ g_cam[:, mapping] @ c_rest.T  # (T, J_rig, 3, 3): G_bvh = M G_cam C^T
    root = root_cam @ c_cam.T
    ankles = np.stack([joints_cam_np[:, default.joint_index(f"foot.{s}")] for s in "LR"], axis=1) @ c_cam.T
    shift = floor_shift_m(ankles, root)
    return RigMotion(
        names=rig_body.joint_names,
        parents=rig_body.parents,
        rest_m=(rest_rig - rest_rig[0]) @ c_rest.T,
        world_rotmat=world_rot,
        root_m=root + shift,
    )
