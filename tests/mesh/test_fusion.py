from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.joint_weights import BODY_JOINTS, load_joint_weights
from mocap.body.landmarks import load_landmark_regressor, regress_landmarks
from mocap.body.rotations import axis_angle_to_matrix
from mocap.mesh.fusion import HIPS, fuse_world_landmarks, move_joints
from mocap.mesh.stage import world_landmarks
from mocap.types import Crops


@pytest.fixture(scope="module")
def meshes() -> torch.Tensor:
    """(2, V, 3) posed Anny meshes (random poses), camera-like orientation, metres."""
    torch.manual_seed(0)
    body = AnnyBody("default")
    pose = axis_angle_to_matrix(0.3 * torch.randn(2, len(body.joint_names), 3))
    return body.canonical_vertices(pose, torch.full((2, 6), 0.5))


def hip_centred_joints(vertices_m: torch.Tensor) -> torch.Tensor:
    landmarks = regress_landmarks(vertices_m)
    return landmarks[:, list(BODY_JOINTS)] - landmarks[:, HIPS].mean(1, keepdim=True)


def test_moving_joints_lands_them_on_the_targets_and_a_shared_offset_is_rigid(meshes: torch.Tensor) -> None:
    regressor = torch.from_numpy(load_landmark_regressor()[list(BODY_JOINTS)].toarray().astype(np.float32))
    weights = torch.from_numpy(load_joint_weights())
    joints = regress_landmarks(meshes)[:, list(BODY_JOINTS)]
    targets = joints + 0.05 * torch.randn(2, 12, 3)
    moved = move_joints(meshes, joints, targets, weights, regressor @ weights)
    torch.testing.assert_close(regress_landmarks(moved)[:, list(BODY_JOINTS)], targets, atol=1e-5, rtol=0)
    offset = torch.tensor([0.1, -0.2, 0.3])
    shifted = move_joints(meshes, joints, joints + offset, weights, regressor @ weights)
    torch.testing.assert_close(shifted, meshes + offset, atol=1e-5, rtol=0)


def test_fusion_moves_the_share_asked_and_keeps_the_hip_centre(meshes: torch.Tensor) -> None:
    world = regress_landmarks(meshes).numpy() + np.random.default_rng(0).normal(0, 0.05, (2, 33, 3))
    world -= world[:, HIPS].mean(1, keepdims=True)  # MediaPipe's origin: between the hips
    assert fuse_world_landmarks(meshes, world, 0.0) is meshes
    onto = fuse_world_landmarks(meshes, world, 1.0)
    target = torch.from_numpy(world[:, list(BODY_JOINTS)] - world[:, HIPS].mean(1, keepdims=True)).float()
    torch.testing.assert_close(hip_centred_joints(onto), target, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        regress_landmarks(onto)[:, HIPS].mean(1), regress_landmarks(meshes)[:, HIPS].mean(1), atol=1e-6, rtol=0
    )
    part = fuse_world_landmarks(meshes, world, 0.2)
    expected = 0.8 * hip_centred_joints(meshes) + 0.2 * target
    torch.testing.assert_close(hip_centred_joints(part), expected, atol=1e-5, rtol=0)


def test_a_person_without_world_landmarks_keeps_megas_mesh(meshes: torch.Tensor) -> None:
    world = regress_landmarks(meshes).numpy() + 0.05
    world[1, 25] = np.nan  # the detector gave no left knee for the second person
    fused = fuse_world_landmarks(meshes, world, 0.5)
    assert torch.equal(fused[1], meshes[1]) and not torch.equal(fused[0], meshes[0])


def test_world_landmarks_average_the_two_views_where_the_flipped_frame_measured() -> None:
    def crops(world: np.ndarray) -> Crops:
        n = len(world)
        return Crops(np.arange(n), np.zeros((n, 2)), np.ones(n), np.zeros((n, 33, 3), np.float32), world)

    direct = np.ones((2, 33, 3), np.float32)
    twin = np.full((2, 33, 3), 3.0, np.float32)
    twin[1] = np.nan  # the flipped frame missed the second person
    np.testing.assert_array_equal(world_landmarks(crops(direct)), direct)
    mean = world_landmarks(crops(direct), crops(twin))
    np.testing.assert_array_equal(mean[0], np.full((33, 3), 2.0))
    np.testing.assert_array_equal(mean[1], direct[1])
