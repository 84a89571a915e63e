"""`mocap export` end to end on a small store, and its answers to bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.body.anny_body import AnnyBody
from mocap.cli import main
from mocap.motion.bvh import read_bvh
from tests.export.conftest import FPS, NUM_FRAMES, write_store


@pytest.fixture()
def store(body: AnnyBody, tmp_path: Path) -> Path:
    write_store(tmp_path / "run.zarr", body, meshes=False, params=True)
    return tmp_path / "run.zarr"


@pytest.mark.parametrize("rig", ["anny", "cmu_mb"])
def test_export_bvh(store: Path, tmp_path: Path, rig: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.bvh"
    assert main(["export", str(store), "--track", "1", "--rig", rig, "-o", str(out)]) == 0
    motion = read_bvh(out, unit_m=0.01)
    assert len(motion) == NUM_FRAMES and np.isclose(motion.fps, FPS)
    assert len(motion.skeleton) == {"anny": 104, "cmu_mb": 31}[rig]
    assert "2 interpolated" in capsys.readouterr().out


def test_export_npz_from_the_suffix(store: Path, tmp_path: Path) -> None:
    assert main(["export", str(store), "--track", "2", "-o", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as f:
        assert f["frame_index"].tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--track", "9"], "choose one with --track|its tracks are [1, 2]"),
        ([], "choose one with --track ID"),
        (["--track", "1", "--rig", "mixamo", "--format", "npz"], "leave out --rig"),
    ],
)
def test_bad_input_fails_with_the_fix(
    store: Path, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(store), *args, "-o", str(tmp_path / "out.bvh")]) != 0
    err = capsys.readouterr().err
    assert any(m in err for m in message.split("|")), err
