"""The live viewer sink: its own process, a one-frame queue, a ``closed`` flag for the capture loop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mocap.types import Frame
from mocap.view.config import ViewerConfig
from mocap.view.sink import ViewerSink
from tests.view.conftest import INTRINSICS, SIZE_WH, coloured_columns, frame_result, person_mesh, read_png

CONFIG = ViewerConfig(max_size_px=160, visible=False)
pytestmark = pytest.mark.slow  # each test starts a viewer process (~3 s)


def frame(index: int) -> Frame:
    return Frame(index, index / 30.0, np.zeros((SIZE_WH[1], SIZE_WH[0], 3), np.uint8), INTRINSICS)


def wait_for(condition, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sink_draws_the_newest_frames_and_always_the_last(tmp_path: Path) -> None:
    out = tmp_path / "live"
    sink = ViewerSink(faces=person_mesh(0, 0)[1], config=CONFIG, save=out)
    sink.write(frame_result(0, {}), frame(0))  # nobody yet: the viewer opens without a mesh
    wait_for(lambda: (out / "frame_000000.png").exists())
    for i in range(1, 10):  # people appear in frame 1: the sink gets the faces it was given
        sink.write(frame_result(i, {1: (-0.6, 4.0), 2: (0.6, 4.0)}), frame(i))
    assert not sink.closed
    sink.close("complete")
    drawn = sorted(int(p.stem.split("_")[1]) for p in out.iterdir())
    assert drawn[0] == 0 and drawn[-1] == 9 and set(drawn) <= set(range(10))
    assert len(drawn) == sink.frames_written - sink.frames_dropped and sink.frames_written == 10
    last = coloured_columns(read_png(out / "frame_000009.png"))
    assert last[:80].any() and last[80:].any()  # both people, left and right


def test_closing_the_viewer_sets_closed_and_later_writes_are_ignored(tmp_path: Path) -> None:
    sink = ViewerSink(faces=person_mesh(0, 0)[1], config=CONFIG, save=tmp_path / "live")
    sink.write(frame_result(0, {1: (0.0, 4.0)}), frame(0))
    wait_for(lambda: (tmp_path / "live" / "frame_000000.png").exists())
    sink._process.terminate()  # what closing the window does: the viewer process ends
    wait_for(lambda: sink.closed)
    written = sink.frames_written
    sink.write(frame_result(1, {1: (0.0, 4.0)}), frame(1))
    assert sink.frames_written == written
    sink.close("complete")


def test_a_run_without_meshes_shows_the_ground(tmp_path: Path) -> None:
    out = tmp_path / "live"
    sink = ViewerSink(config=CONFIG, save=out)  # no faces given, and none needed
    sink.write(frame_result(0, {1: (0.0, 4.0)}, meshes=False), frame(0))
    sink.close("complete")
    image = read_png(out / "frame_000000.png")
    assert not coloured_columns(image).any() and (image[40:] < 200).any()
