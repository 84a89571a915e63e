from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.rotations import axis_angle_to_matrix
from mocap.cli import main
from mocap.errors import ConfigError
from mocap.motion.bvh import write_bvh
from mocap.motion.dataset import LIMB_GROUPS, MotionDataset, build_dataset, discover_clips
from mocap.motion.retarget import DRIVEN_BONES
from mocap.motion.splits import SPLITS, TEST_SUBJECTS, VALIDATION_SUBJECTS, split_of
from tests.motion.conftest import humanoid_motion


def test_splits_are_disjoint_and_fixed() -> None:
    assert not TEST_SUBJECTS & VALIDATION_SUBJECTS
    assert split_of("cmu02") == "test" and split_of("cmu03") == "validation" and split_of("cmu01") == "train"
    assert split_of("someone_new") == "train"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared-data-like folder: a train subject (131), a test subject (08, gzip) and an unusable clip."""
    root = tmp_path_factory.mktemp("data")
    (root / "mocap" / "cmu_bvh_cgspeed").mkdir(parents=True)
    write_bvh(humanoid_motion(seed=1), root / "mocap" / "cmu_bvh_cgspeed" / "131_01.bvh")
    test_dir = root / "mocap" / "more" / "cmu_bvh_mb_motionviewer" / "08"
    test_dir.mkdir(parents=True)
    write_bvh(humanoid_motion(seed=2), test_dir / "08_01.bvh")
    (test_dir / "08_01.bvh.gz").write_bytes(gzip.compress((test_dir / "08_01.bvh").read_bytes()))
    (test_dir / "08_01.bvh").unlink()
    (root / "mocap" / "animated_drawings_bvh").mkdir()
    (root / "mocap" / "animated_drawings_bvh" / "fair1_broken.bvh").write_text("HIERARCHY\nROOT x\n{")
    return root


@pytest.fixture(scope="module")
def dataset(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> MotionDataset:
    cache = tmp_path_factory.mktemp("cache")
    paths = build_dataset(data_dir, cache)
    assert len(paths) == 2  # the broken clip is skipped with a warning
    return MotionDataset.load(cache)


def test_discovers_clips_with_subjects(data_dir: Path) -> None:
    clips = {c.name: c for c in discover_clips(data_dir)}
    assert clips["131_01"].subject == "cmu131" and clips["08_01"].subject == "cmu08"
    assert clips["fair1_broken"].subject == "fair1"


def test_sequences_and_report(dataset: MotionDataset) -> None:
    train, test = dataset.split("train"), dataset.split("test")
    assert [s.clip for s in train] == ["131_01"] and [s.clip for s in test] == ["08_01"]
    seq = train[0]
    assert seq.pose_aa.shape == (30, len(DRIVEN_BONES), 3) and seq.transl_m.shape == (30, 3) and seq.fps == 30.0
    assert seq.source == "mocap/cmu_bvh_cgspeed/131_01.bvh"
    pose = seq.pose_rotmat()
    assert pose.shape == (30, 104, 3, 3) and np.allclose(pose @ np.swapaxes(pose, -1, -2), np.eye(3), atol=1e-5)
    report = {row[0]: row[1:] for row in dataset.report()}
    assert set(report) == set(SPLITS)
    assert report["train"][:3] == (1, 1, 30) and report["train"][3] == pytest.approx(1.0 / 60)
    assert report["validation"][2] == 0


def test_sample_canonical_meshes(dataset: MotionDataset) -> None:
    meshes = dataset.sample_canonical_meshes("train", 3, np.random.default_rng(0))
    assert meshes.shape == (3, 13718, 3) and meshes.dtype == np.float32
    assert np.abs(meshes.mean(axis=1)).max() < 1e-5
    again = dataset.sample_canonical_meshes("train", 3, np.random.default_rng(0))
    assert np.array_equal(meshes, again)  # reproducible from the seed


def test_limb_mixing_takes_whole_limbs_from_other_frames(dataset: MotionDataset) -> None:
    plain = dataset._random_poses("train", 64, np.random.default_rng(0))
    mixed = dataset._random_poses("train", 64, np.random.default_rng(0), limb_mix=1.0)
    driven = [dataset.body.joint_index(b) for b in DRIVEN_BONES]
    limbs = sorted(i for group in LIMB_GROUPS for i in group)
    torso = [driven[i] for i in range(len(DRIVEN_BONES)) if i not in limbs]
    assert torch.equal(plain[:, torso], mixed[:, torso])  # root, spine, neck, head: the drawn frame's, same draws
    frames = axis_angle_to_matrix(torch.from_numpy(dataset.split("train")[0].pose_aa))  # (30, bones, 3, 3)
    for group in LIMB_GROUPS:
        bones = [driven[i] for i in group]
        # each limb is whole: all its bones from one frame of the clip
        match = (mixed[:, None, bones] - frames[None, :, list(group)]).abs().amax(dim=(2, 3, 4)) < 1e-6  # (64, 30)
        assert match.any(dim=1).all()
        assert not torch.equal(plain[:, bones], mixed[:, bones])  # and mostly another frame's


def test_sample_posed(dataset: MotionDataset) -> None:
    sample = dataset.sample_posed("test", 2, np.random.default_rng(1))
    assert sample.pose_rotmat.shape == (2, 104, 3, 3) and sample.phenotype.shape == (2, 6)
    assert sample.vertices_m.shape == (2, 13718, 3) and sample.joints_m.shape == (2, 104, 3)
    assert sample.landmarks_m.shape == (2, 33, 3)
    assert np.allclose(sample.joints_m[:, 0], 0.0, atol=1e-6)  # root joint at the origin


def test_empty_split_says_how_to_fix(dataset: MotionDataset) -> None:
    with pytest.raises(ConfigError, match="mocap data build"):
        dataset.sample_canonical_meshes("validation", 1, np.random.default_rng(0))


def test_cli_build_prints_the_split_report(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "build", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 clips cached" in out
    train = next(line for line in out.splitlines() if line.startswith("train")).split()
    assert train[1:4] == ["1", "1", "30"]
