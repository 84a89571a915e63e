"""Held-out motion names, and `mocap synth` end to end when the motion dataset is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.cli import main
from mocap.errors import ConfigError
from mocap.io.store import open_store
from mocap.synth.clip import SynthConfig
from mocap.synth.motions import parse_motion


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cmu_asf_amc/02_01", ("cmu_asf_amc/02_01", 0)), ("cmu_asf_amc/02_06@6.5", ("cmu_asf_amc/02_06", 195))],
)
def test_parse_motion(text: str, expected: tuple[str, int]) -> None:
    assert parse_motion(text, 30.0) == expected


@pytest.mark.parametrize("text", ["walk@soon", "walk@-1"])
def test_parse_motion_rejects_bad_starts(text: str) -> None:
    with pytest.raises(ConfigError, match="start"):
        parse_motion(text, 30.0)


def test_one_motion_per_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["synth", "-o", str(tmp_path / "a.mp4"), "--people", "2", "--motion", "x/y"])
    assert code == ConfigError.exit_code and "one per person" in capsys.readouterr().err


def test_output_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth"]) == ConfigError.exit_code and "-o" in capsys.readouterr().err


def _dataset_built() -> bool:
    from mocap.motion.dataset import MotionDataset

    try:
        return bool(MotionDataset.load().split("test"))
    except ConfigError:
        return False


def test_held_out_draws_are_reproducible_and_held_out() -> None:
    if not _dataset_built():
        pytest.skip("motion dataset not built (mocap data build)")
    from mocap.motion.splits import TEST_SUBJECTS
    from mocap.synth.motions import _test_sequences, held_out_performances

    config = SynthConfig(people=2, seconds=1.0, seed=4)
    first, second = held_out_performances(config), held_out_performances(config)
    assert [p.name for p in first] == [p.name for p in second]
    np.testing.assert_array_equal(first[0].pose_rotmat, second[0].pose_rotmat)
    for performance in first:
        assert len(performance) == 30 and performance.pose_rotmat.shape == (30, 104, 3, 3)
        assert _test_sequences()[performance.name.split("@")[0]].subject in TEST_SUBJECTS


def test_training_draws_can_keep_to_one_collection() -> None:
    if not _dataset_built():
        pytest.skip("motion dataset not built (mocap data build)")
    from mocap.synth.motions import random_performances

    for seed in range(4):
        drawn = random_performances(SynthConfig(seconds=1.0, seed=seed), "train", collection="cmu_asf_amc")
        assert drawn[0].name.startswith("cmu_asf_amc/"), drawn[0].name
    with pytest.raises(ConfigError, match="collection 'nope'"):
        random_performances(SynthConfig(seconds=1.0), "train", collection="nope")


def test_synth_command_writes_video_and_ground_truth(tmp_path: Path) -> None:
    if not _dataset_built():
        pytest.skip("motion dataset not built (mocap data build)")
    assert main(["synth", "--list-motions"]) == 0
    video = tmp_path / "clip.mp4"
    args = ["synth", "-o", str(video), "--seconds", "0.1", "--size", "160x120", "--seed", "2", "--no-progress"]
    assert main([*args, "--no-vertices"]) == 0
    store = open_store(tmp_path / "clip.gt.zarr")
    assert store.num_frames == 3 and store.track_ids == [1]
    assert "vertices_cam_m" not in store.fields(1) and "pose_rotmat" in store.fields(1)
    assert main(args) == 3  # the store exists: --overwrite is needed
    assert main([*args, "--overwrite"]) == 0
    assert open_store(tmp_path / "clip.gt.zarr").track(1)["vertices_cam_m"].shape == (3, 13718, 3)
