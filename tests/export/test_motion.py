"""Rig motion in the Y-up world, written as BVH and re-read by bvhio (independent) and our read_bvh."""

from __future__ import annotations

from pathlib import Path

import bvhio
import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.export.motion import ANKLE_HEIGHT_M, CAMERA_TO_WORLD, bone_map, export_motion
from mocap.export.writers import BVH_UNIT_M, write_bvh_file
from mocap.motion.bvh import read_bvh
from tests.export.conftest import walking_params


def bvhio_joints_m(path: Path, frames: int) -> np.ndarray:
    """(T, J, 3) world joint positions as bvhio computes them, metres, file joint order."""
    root = bvhio.readAsHierarchy(str(path))
    layout = root.layout()
    joints = np.zeros((frames, len(layout), 3))
    for f in range(frames):
        root.loadPose(f)
        for j, (joint, _, _) in enumerate(layout):
            joints[f, j] = np.asarray(joint.PositionWorld) * BVH_UNIT_M
    return joints


@pytest.mark.parametrize("rig", ["default", "cmu_mb", "mixamo", "game_engine"])
def test_bvh_round_trip_through_bvhio_and_read_bvh(body: AnnyBody, rig: str, tmp_path: Path) -> None:
    motion = export_motion(walking_params(body), AnnyBody(rig))
    path = tmp_path / f"{rig}.bvh"
    written = write_bvh_file(motion, path, fps=25.0)
    ours = motion.joints_world_m()

    theirs = bvhio_joints_m(path, len(ours))
    back = read_bvh(path, unit_m=BVH_UNIT_M)
    assert back.skeleton.names == motion.names and np.isclose(back.fps, 25.0)
    assert np.abs(theirs - ours).max() < 1e-4  # < 0.1 mm, measured ~0.001 mm
    assert np.abs(back.joint_positions_m() - ours).max() < 1e-4
    np.testing.assert_allclose(written.joint_positions_m(), ours, atol=1e-6)


def test_default_rig_joints_are_annys_joints_in_the_y_up_world(body: AnnyBody) -> None:
    params = walking_params(body)
    motion = export_motion(params, body)
    with torch.no_grad():
        anny = body.forward(params.pose_rotmat, params.phenotype.expand(len(params), -1), params.transl_m).joints_m
    expected = anny.double().numpy() @ CAMERA_TO_WORLD.T
    shift = motion.joints_world_m()[0, 0] - expected[0, 0]  # floor and origin placement only
    np.testing.assert_allclose(motion.joints_world_m(), expected + shift, atol=1e-5)


def test_world_is_y_up_on_the_floor_starting_at_the_origin(body: AnnyBody) -> None:
    motion = export_motion(walking_params(body), body)
    joints = motion.joints_world_m()
    head, feet = body.joint_index("head"), [body.joint_index("foot.L"), body.joint_index("foot.R")]
    assert (joints[:, head, 1] > joints[:, feet, 1].max(1) + 1.0).all()  # standing, head up
    assert np.isclose(np.percentile(joints[:, feet, 1].min(1), 5), ANKLE_HEIGHT_M)
    np.testing.assert_allclose(motion.root_m[0, [0, 2]], 0.0, atol=1e-9)
    assert motion.root_m[-1, 0] == pytest.approx(0.5, abs=1e-4)  # walked 0.5 m to the camera's right


@pytest.mark.parametrize(
    ("rig", "hand", "wrist"), [("mixamo", "mixamorig:LeftHand", "wrist.L"), ("game_engine", "hand_l", "wrist.L")]
)
def test_rig_bones_follow_the_matching_anny_bones(body: AnnyBody, rig: str, hand: str, wrist: str) -> None:
    rig_body = AnnyBody(rig)
    mapping = bone_map(rig)
    assert body.joint_names[mapping[rig_body.joint_index(hand)]] == wrist
    params = walking_params(body)
    rig_joints = export_motion(params, rig_body).joints_world_m()
    default_joints = export_motion(params, body).joints_world_m()
    gap_m = np.linalg.norm(
        rig_joints[:, rig_body.joint_index(hand)] - default_joints[:, body.joint_index(wrist)], axis=-1
    )
    assert gap_m.max() < 0.05
