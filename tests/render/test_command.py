"""``mocap render``: flags reach the overlay, errors come back as messages with the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.cli import main
from tests.render.conftest import background, box_vertices, make_run, projected_mask, read_video, write_clip


def test_render_command_writes_the_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1, 2], 1: [1, 2], 2: [1, 2]}, smoothed_dx_m=0.05)
    clip = write_clip(tmp_path / "clip.mp4", 3)
    output = tmp_path / "overlay.mp4"
    argv = [str(store), "--video", str(clip), "-o", str(output), "--tracks", "2", "--max-frames", "2"]
    code = main(["render", *argv, "--color-by", "uncertainty", "--raw", "--alpha", "1"])
    assert code == 0
    assert f"wrote {output}: 2 frames, 2 with people" in capsys.readouterr().out
    frames = read_video(output)
    assert len(frames) == 2
    change = np.abs(frames[1].astype(np.float32) - background(1)).max(axis=-1)
    assert np.median(change[projected_mask(box_vertices(1, 2))]) > 30  # track 2 drawn, opaque
    assert np.median(change[projected_mask(box_vertices(1, 1))]) < 6  # track 1 left out


def test_render_command_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]}, meshes=False)
    clip = write_clip(tmp_path / "clip.mp4", 1)
    code = main(["render", str(store), "--video", str(clip), "-o", str(tmp_path / "overlay.mp4")])
    assert code != 0
    assert "without --no-mesh" in capsys.readouterr().err


def test_render_command_rejects_a_bad_track_list(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["render", "run.zarr", "--video", "clip.mp4", "-o", "out.mp4", "--tracks", "one"])
