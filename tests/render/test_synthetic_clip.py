"""An overlay of a real synthetic clip (``mocap synth``, Anny bodies) lines up with its ground truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap.cli import main
from mocap.errors import ConfigError
from mocap.io.store import open_store
from mocap.render.composite import project_px
from mocap.render.overlay import OverlayConfig, render_overlay
from tests.render.conftest import read_video


def _dataset_built() -> bool:
    from mocap.motion.dataset import MotionDataset

    try:
        return bool(MotionDataset.load().split("test"))
    except ConfigError:
        return False


@pytest.mark.slow
def test_overlay_of_a_synthetic_clip_covers_its_ground_truth_people(tmp_path: Path) -> None:
    if not _dataset_built():
        pytest.skip("motion dataset not built (mocap data build)")
    clip = tmp_path / "clip.mp4"
    args = ["synth", "-o", str(clip), "--people", "2", "--seconds", "0.2", "--size", "160x120", "--seed", "5"]
    assert main([*args, "--no-progress"]) == 0
    store = tmp_path / "clip.gt.zarr"  # per-person Anny vertices, no body/faces: Anny's triangles are used
    stats = render_overlay(store, clip, tmp_path / "overlay.mp4", OverlayConfig(alpha=1.0, draw_ids=False))
    assert stats.frames == stats.frames_with_people == 6

    run = open_store(store)
    intrinsics = np.asarray(run.attrs["intrinsics"])
    tracks = [run.track(track_id) for track_id in run.track_ids]
    source, overlay = read_video(clip), read_video(tmp_path / "overlay.mp4")
    for index, (before, after) in enumerate(zip(source, overlay, strict=True)):
        tinted = np.abs(after.astype(np.float32) - before.astype(np.float32)).max(axis=-1) > 40  # (H, W)
        boxes = np.zeros(tinted.shape, np.uint8)
        for track in tracks:
            row = int(np.searchsorted(track.frame_index, index))
            x0, y0, x1, y1 = np.round(track["xyxy_px"][row]).astype(int)
            cv2.rectangle(boxes, (x0 - 2, y0 - 2), (x1 + 2, y1 + 2), 1, thickness=-1)
            # Where the body's vertices project, the overlay is drawn (5 px tolerance for thin limbs' edges).
            uv = project_px(track["vertices_cam_m"][row].astype(np.float64), intrinsics)
            near = cv2.dilate(tinted.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            cols, rows = np.clip(uv.astype(int).T, 0, [[tinted.shape[1] - 1], [tinted.shape[0] - 1]])
            assert near[rows, cols].mean() > 0.97, f"frame {index}: track {track.track_id} not drawn where it is"
        assert tinted[boxes == 0].mean() < 0.002, f"frame {index}: drawn outside the people's boxes"
