from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody, neutral_phenotypes
from mocap.errors import SourceError
from mocap.motion.asf_amc import read_amc, read_asf
from mocap.motion.bvh import read_bvh
from mocap.motion.retarget import AnnyMotion, find_source_joints, retarget, rotation_between
from mocap.motion.skeleton import Motion

SHARED_MOCAP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mocap"
# (source start, source end, anny start, anny end) of segments whose direction must match.
SEGMENTS = [
    ("LeftUpLeg", "LeftLeg", "upperleg01.L", "lowerleg01.L"),
    ("RightLeg", "RightFoot", "lowerleg01.R", "foot.R"),
    ("LeftArm", "LeftForeArm", "upperarm01.L", "lowerarm01.L"),
    ("RightForeArm", "RightHand", "lowerarm01.R", "wrist.R"),
    ("Neck", "Head", "neck01", "head"),
    ("RightUpLeg", "LeftUpLeg", "upperleg01.R", "upperleg01.L"),
]
# Source (y-up, facing +z) to Anny (z-up, facing -y) axes, up to the small tilt of Anny's rest frame.
C_NOMINAL = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody("default")


def _anny_joints(body: AnnyBody, anny: AnnyMotion) -> np.ndarray:
    with torch.no_grad():
        rest = body.rest_bone_poses(neutral_phenotypes(1))
        poses = body.bone_poses(torch.from_numpy(anny.pose_rotmat), rest, torch.from_numpy(anny.transl_m))
    return poses[..., :3, 3].double().numpy()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _deltas_deg(rotations: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) -> (T-1, J) rotation angle between consecutive frames."""
    delta = np.swapaxes(rotations[1:], -1, -2) @ rotations[:-1]
    return np.rad2deg(np.arccos(np.clip((np.trace(delta, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))


def test_rotation_between() -> None:
    a = np.array([[1.0, 0, 0], [0, 0, 2], [0, 1, 0], [1, 0, 0]])
    b = np.array([[0.0, 3, 0], [0, 0, 1], [0, -1, 0], [0, 0, 0]])
    r = rotation_between(a, b)
    assert np.allclose(r @ np.swapaxes(r, -1, -2), np.eye(3))
    assert np.allclose(np.einsum("nij,nj->ni", r, _unit(a)), [[0, 1, 0], [0, 0, 1], [0, -1, 0], [1, 0, 0]])


def test_finds_joints_across_naming_schemes() -> None:
    mb = find_source_joints(("Hips", "LeftUpLeg", "LeftShoulder", "LeftArm", "Neck", "Head"))
    assert mb["hip.L"] == 1 and mb["clavicle.L"] == 2 and mb["shoulder.L"] == 3
    max3ds = find_source_joints(("Hips", "LeftHip", "LeftCollar", "LeftShoulder", "lowerneck", "Neck"))
    assert max3ds["hip.L"] == 1 and max3ds["clavicle.L"] == 2 and max3ds["shoulder.L"] == 3 and max3ds["neck"] == 4
    iclone = find_source_joints(("CC_Base_Hip", "CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Upperarm"))
    assert iclone == {"hip.L": 1, "knee.L": 2, "shoulder.L": 3}


def test_segment_directions_match_the_source(body: AnnyBody, motion: Motion) -> None:
    anny = retarget(motion)
    assert anny.fps == 30.0 and len(anny) == 30 and anny.pose_rotmat.shape == (30, 104, 3, 3)
    source = motion.resample(30.0).joint_positions_m() @ C_NOMINAL.T
    joints = _anny_joints(body, anny)
    names = motion.skeleton.names
    for s0, s1, a0, a1 in SEGMENTS:
        src_dir = _unit(source[:, names.index(s1)] - source[:, names.index(s0)])
        anny_dir = _unit(joints[:, body.joint_index(a1)] - joints[:, body.joint_index(a0)])
        angle = np.rad2deg(np.arccos(np.clip((src_dir * anny_dir).sum(-1), -1, 1)))
        assert angle.max() < 6.0, (s0, s1, angle.max())  # nominal axes: up to Anny's rest tilt


def test_bone_lengths_are_preserved(body: AnnyBody, motion: Motion) -> None:
    joints = _anny_joints(body, retarget(motion))
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, body.parents[1:]], axis=-1)  # (T, J-1)
    rest = _anny_joints(body, AnnyMotion(body.identity_pose(1).numpy(), np.zeros((1, 3), np.float32), 30.0))
    rest_lengths = np.linalg.norm(rest[:, 1:] - rest[:, body.parents[1:]], axis=-1)
    assert np.abs(lengths - rest_lengths).max() < 1e-4


def _anny_world(body: AnnyBody, anny: AnnyMotion) -> np.ndarray:
    with torch.no_grad():
        poses = body.bone_poses(torch.from_numpy(anny.pose_rotmat), body.rest_bone_poses(neutral_phenotypes(1)))
        rest = body.bone_poses(body.identity_pose(1), body.rest_bone_poses(neutral_phenotypes(1)))
    return (poses[..., :3, :3] @ rest[..., :3, :3].transpose(-1, -2)).double().numpy()  # world, from rest


def test_no_flips_over_a_smooth_sequence(body: AnnyBody, motion: Motion) -> None:
    anny = retarget(motion)
    source_max = _deltas_deg(motion.resample(30.0).world_rotations()).max()
    assert source_max < 30.0  # the fixture is smooth
    # Retargeting adds no jumps: no Anny bone turns faster between frames than the fastest source joint.
    assert _deltas_deg(_anny_world(body, anny)).max() <= source_max + 1.0


def test_walks_on_the_floor(body: AnnyBody, motion: Motion) -> None:
    anny = retarget(motion)
    with torch.no_grad():
        vertices = body.forward(
            torch.from_numpy(anny.pose_rotmat), neutral_phenotypes(1), torch.from_numpy(anny.transl_m)
        ).vertices_m
    lowest = vertices[..., 2].min(dim=1).values
    assert lowest.min() > -0.1 and lowest.min() < 0.1
    travelled = anny.transl_m[-1] - anny.transl_m[0]
    assert travelled[1] < -0.3 and abs(travelled[0]) < 0.1  # source walks +z = Anny's forward (-y)


def test_unknown_skeleton_raises(motion: Motion) -> None:
    renamed = dataclasses.replace(motion.skeleton, names=tuple(f"bone{i}" for i in range(len(motion.skeleton))))
    with pytest.raises(SourceError, match="_ALIASES"):
        retarget(dataclasses.replace(motion, skeleton=renamed))


@pytest.mark.skipif(not SHARED_MOCAP.is_dir(), reason="needs ../shared/data/mocap")
@pytest.mark.parametrize(
    "clip", ["cmu_bvh_cgspeed/131_02.bvh", "cmu_asf_amc/02/02_01.amc", "cmu_bvh_iclone/007/007_01.bvh"]
)
def test_real_clips_without_flips(body: AnnyBody, clip: str) -> None:
    path = SHARED_MOCAP / clip
    motion = read_amc(path, read_asf(path.parent / "02.asf")) if path.suffix == ".amc" else read_bvh(path)
    anny = retarget(motion)
    source = motion.resample(30.0)
    mapped = sorted(set(find_source_joints(motion.skeleton.names).values()))
    # Retargeting adds no jumps: Anny's fastest bone turns no faster than the source's fastest mapped joint.
    source_max = _deltas_deg(source.world_rotations()[:, mapped]).max()
    assert _deltas_deg(_anny_world(body, anny)).max() <= source_max + 2.0
    assert np.isfinite(anny.pose_rotmat).all() and np.isfinite(anny.transl_m).all()
