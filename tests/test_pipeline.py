from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.pipeline import prefetch
from mocap.types import Frame


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
