from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.pipeline import Pipeline, RunConfig, prefetch
from mocap.track.sides import relabel
from mocap.types import Frame
from tests.track.track_scenes import detections, walk


def _frames(n: int, fail_after: int | None = None) -> Iterator[Frame]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise SourceError("truncated after frame 2")
        yield Frame(i, i / 30, np.full((4, 4, 3), i, np.uint8))


def test_prefetch_keeps_order_and_every_frame() -> None:
    assert [f.index for f in prefetch(_frames(50), depth=3)] == list(range(50))


def test_prefetch_raises_the_source_error_after_the_good_frames() -> None:
    seen = []
    with pytest.raises(SourceError, match="truncated"):
        for frame in prefetch(_frames(10, fail_after=3)):
            seen.append(frame.index)
    assert seen == [0, 1, 2]


def test_closing_early_stops_the_decoding_thread() -> None:
    before = threading.active_count()
    frames = prefetch(_frames(10_000), depth=2)
    assert [f.index for f in itertools.islice(frames, 5)] == [0, 1, 2, 3, 4]
    frames.close()
    assert threading.active_count() == before


def test_the_store_says_where_the_detectors_left_and_right_were_exchanged_back() -> None:
    """Pipeline without meshes over scripted detections (a walker whose labels the detector swapped on frame 12):
    the side keeper undoes it and the frame's ``sides_relabelled`` says so."""
    script = [detections([person]) for person in walk(300, 4, 20)]
    script[12] = replace(script[12], landmarks_px=relabel(script[12].landmarks_px))

    class Scripted:
        def detect(self, frame: Frame) -> object:
            return script[frame.index]

        def close(self) -> None: ...

    pipeline = Pipeline(RunConfig(mesh=False))
    pipeline.detector.close()
    pipeline.detector = Scripted()  # type: ignore[assignment]
    results = [pipeline.process(Frame(i, i / 30, np.zeros((480, 640, 3), np.uint8))) for i in range(20)]
    flags = {r.frame_index: bool(r.track_fields["sides_relabelled"][0]) for r in results if len(r.tracks)}
    assert [i for i, flag in flags.items() if flag] == [12]
    np.testing.assert_array_equal(
        results[12].tracks.landmarks_px[0], detections(walk(300, 4, 20)[12:13]).landmarks_px[0]
    )
