"""DeepMimic humanoid3d motions: forward kinematics of the character file, revolute and spherical joints, the
retargeting onto Anny, discovery in the shared-data layout, and errors that name the file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.errors import SourceError
from mocap.motion.dataset import discover_clips
from mocap.motion.deepmimic import read_character, read_deepmimic
from mocap.motion.retarget import find_source_joints, retarget

SHARED_JUMP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mocap" / "more" / "cmu_deepmimic_jump"

# (name, type, parent, attach offset m): y up, x forward, z right, arms down (the humanoid3d layout).
JOINTS = [
    ("root", "none", -1, (0, 0, 0)),
    ("chest", "spherical", 0, (0, 0.24, 0)),
    ("neck", "spherical", 1, (0, 0.22, 0)),
    ("right_hip", "spherical", 0, (0, 0, 0.085)),
    ("right_knee", "revolute", 3, (0, -0.42, 0)),
    ("right_ankle", "spherical", 4, (0, -0.41, 0)),
    ("right_shoulder", "spherical", 1, (-0.02, 0.24, 0.18)),
    ("right_elbow", "revolute", 6, (0, -0.27, 0)),
    ("right_wrist", "fixed", 7, (0, -0.26, 0)),
    ("left_hip", "spherical", 0, (0, 0, -0.085)),
    ("left_knee", "revolute", 9, (0, -0.42, 0)),
    ("left_ankle", "spherical", 10, (0, -0.41, 0)),
    ("left_shoulder", "spherical", 1, (-0.02, 0.24, -0.18)),
    ("left_elbow", "revolute", 12, (0, -0.27, 0)),
    ("left_wrist", "fixed", 13, (0, -0.26, 0)),
]
IDENTITY = [1.0, 0.0, 0.0, 0.0]


def write_character(path: Path) -> Path:
    joints = [
        {"ID": i, "Name": n, "Type": t, "Parent": p, "AttachX": o[0], "AttachY": o[1], "AttachZ": o[2]}
        for i, (n, t, p, o) in enumerate(JOINTS)
    ]
    path.write_text(json.dumps({"Skeleton": {"Joints": joints}}))
    return path


def frame(knee_rad: float = 0.0, root_yaw_rad: float = 0.0, height_m: float = 0.9) -> list[float]:
    """One 44-value row: dt, root position, root quaternion (about y), then chest .. left elbow."""
    yaw = [np.cos(root_yaw_rad / 2), 0.0, np.sin(root_yaw_rad / 2), 0.0]
    leg = [*IDENTITY, knee_rad, *IDENTITY]
    arm = [*IDENTITY, 0.0]
    return [1 / 30, 0.0, height_m, 0.0, *yaw, *IDENTITY, *IDENTITY, *leg, *arm, *leg, *arm]


def write_motion(path: Path, rows: list[list[float]]) -> Path:
    text = json.dumps({"Loop": "none", "Frames": rows})
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def character(tmp_path: Path) -> Path:
    return write_character(tmp_path / "humanoid3d_character.txt")


def test_rest_frame_stands_on_the_attach_offsets(character: Path, tmp_path: Path) -> None:
    motion = read_deepmimic(write_motion(tmp_path / "still.txt.gz", [frame()] * 3), character)
    assert motion.fps == pytest.approx(30.0) and len(motion) == 3 and motion.unit_m == 1.0
    names, positions = motion.skeleton.names, motion.joint_positions_m()[0]
    assert names[-1] == "Head" and names[names.index("Head") - 1] == "LeftHand"
    np.testing.assert_allclose(positions[names.index("RightLeg")], (0, 0.9 - 0.42, 0.085), atol=1e-9)
    np.testing.assert_allclose(positions[names.index("Head")], (0, 0.9 + 0.24 + 0.22 + 0.175, 0), atol=1e-9)
    assert find_source_joints(names).keys() >= {"hip.L", "knee.R", "ankle.L", "shoulder.R", "wrist.L", "neck", "head"}


def test_revolute_knees_bend_about_z_and_the_root_quaternion_turns_the_body(character: Path, tmp_path: Path) -> None:
    rows = [frame(knee_rad=np.pi / 2), frame(root_yaw_rad=np.pi / 2)]
    motion = read_deepmimic(write_motion(tmp_path / "bend.txt", rows), character)
    names, positions = motion.skeleton.names, motion.joint_positions_m()
    knee, ankle = positions[0, names.index("RightLeg")], positions[0, names.index("RightFoot")]
    np.testing.assert_allclose(ankle - knee, (0.41, 0, 0), atol=1e-9)  # +90 degrees about z: down -> forward
    hips = positions[1, names.index("LeftUpLeg")] - positions[1, names.index("RightUpLeg")]
    np.testing.assert_allclose(hips, (-0.17, 0, 0), atol=1e-9)  # yaw 90: the left hip from -z to -x


def test_retargets_onto_anny_with_the_sources_limb_directions(character: Path, tmp_path: Path) -> None:
    rows = [frame(knee_rad=k, root_yaw_rad=0.3 * k) for k in np.linspace(0, 1.5, 12)]
    motion = read_deepmimic(write_motion(tmp_path / "squat.txt", rows), character)
    anny = retarget(motion)
    body = AnnyBody("default")
    joints = body.forward(
        torch.from_numpy(anny.pose_rotmat), torch.zeros(len(anny), 6) + 0.5, torch.from_numpy(anny.transl_m)
    ).joints_m.numpy()
    thigh = joints[:, body.joint_index("lowerleg01.R")] - joints[:, body.joint_index("upperleg01.R")]
    shin = joints[:, body.joint_index("foot.R")] - joints[:, body.joint_index("lowerleg01.R")]
    # The knee's bend is the source's: the angle between thigh and shin follows the revolute angle.
    cosine = (thigh * shin).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shin, axis=-1)
    bend = np.degrees(np.arccos(cosine))
    np.testing.assert_allclose(bend, np.degrees(np.linspace(0, 1.5, 12)), atol=6.0)


def test_bad_files_say_which_and_why(character: Path, tmp_path: Path) -> None:
    short = [frame()[:-1]] * 3
    with pytest.raises(SourceError, match="expected frames of 44 values"):
        read_deepmimic(write_motion(tmp_path / "short.txt", short), character)
    uneven = [frame(), [0.05, *frame()[1:]], frame()]
    uneven[0][0] = 1 / 30
    with pytest.raises(SourceError, match="not evenly spaced"):
        read_deepmimic(write_motion(tmp_path / "uneven.txt", uneven), character)
    (tmp_path / "broken.txt.gz").write_bytes(b"not gzip")
    with pytest.raises(SourceError, match=r"broken\.txt\.gz"):
        read_deepmimic(tmp_path / "broken.txt.gz", character)
    (tmp_path / "noneck.txt").write_text(json.dumps({"Skeleton": {"Joints": []}}))
    with pytest.raises(SourceError, match="neck"):
        read_character(tmp_path / "noneck.txt")


def test_discovered_in_the_shared_layout_train_subjects_only(character: Path, tmp_path: Path) -> None:
    jump = tmp_path / "mocap" / "more" / "cmu_deepmimic_jump"
    for folder, clip in (("cmu81-85/85", "85_01"), ("cmu10-14/13", "13_19"), ("cmu40-45/49", "49_01")):
        (jump / folder).mkdir(parents=True)
        write_motion(jump / folder / f"{clip}.txt.gz", [frame()] * 3)
    write_character(jump / "humanoid3d_jumper60kg_character.txt")
    clips = discover_clips(tmp_path)
    # 13 is a validation subject and 49 a test subject: their DeepMimic copies stay out of every split.
    assert [(c.name, c.subject, c.collection) for c in clips] == [("85_01", "cmu85", "cmu_deepmimic_jump")]
    assert len(clips[0].read()) == 3


@pytest.mark.skipif(not SHARED_JUMP.is_dir(), reason="needs ../shared/data/mocap/more/cmu_deepmimic_jump")
def test_real_breakdance_clip_reads_and_retargets() -> None:
    character = SHARED_JUMP / "humanoid3d_jumper60kg_character.txt"
    motion = read_deepmimic(SHARED_JUMP / "cmu81-85/85/85_01.txt.gz", character)
    assert motion.fps == pytest.approx(30.0) and len(motion) == 249
    anny = retarget(motion)
    assert np.isfinite(anny.pose_rotmat).all() and len(anny) == 249
