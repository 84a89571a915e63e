from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.io.sources import open_source
from mocap.io.webcam import WebcamSource
from mocap.types import Frame


class FakeCapture:
    """Stands in for cv2.VideoCapture (no camera here): a camera at ``fps`` that vanishes after ``num_frames``."""

    def __init__(self, num_frames: int | None, fps: float = 200.0, opens: bool = True, hangs: bool = False) -> None:
        self.num_frames, self.period_s, self.opens, self.hangs = num_frames, 1.0 / fps, opens, hangs
        self.reads = 0
        self.released = threading.Event()

    def isOpened(self) -> bool:
        return self.opens

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.period_s)
        if self.hangs and self.num_frames is not None and self.reads >= self.num_frames:
            self.released.wait()  # some drivers block in read() when the camera is unplugged
        if self.released.is_set() or (self.num_frames is not None and self.reads >= self.num_frames):
            return False, None
        image = np.zeros((12, 16, 3), np.uint8)
        image[..., 0] = self.reads % 256  # blue channel in OpenCV's BGR order: the frame number
        self.reads += 1
        return True, image

    def get(self, prop_id: int) -> float:
        return 200.0 if prop_id == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released.set()


def test_webcam_drops_frames_for_a_slow_consumer_then_reports_the_lost_camera() -> None:
    capture = FakeCapture(num_frames=60)
    source = WebcamSource(0, capture_factory=lambda _: capture, lost_after_s=0.2)
    assert source.is_live and source.kind == "webcam" and source.num_frames is None
    assert source.size_wh == (16, 12) and source.fps == 200.0
    frames: list[Frame] = []
    with pytest.raises(SourceError, match=r"webcam:0.*reconnect"):
        for frame in source:
            frames.append(frame)
            time.sleep(0.03)  # a consumer ~6x slower than the camera
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert np.diff(indices).max() > 1, "a slow consumer must skip frames, not queue them"
    assert len(frames) < 60
    for frame in frames:  # each image is the camera's frame of that index, in RGB order
        assert frame.image_rgb[0, 0, 2] == frame.index % 256
    assert [f.time_s for f in frames] == sorted(f.time_s for f in frames)
    source.close()
    assert capture.released.is_set()


def test_webcam_indices_start_at_start_frame_and_the_last_frame_arrives() -> None:
    capture = FakeCapture(num_frames=10, fps=50)
    with WebcamSource(0, capture_factory=lambda _: capture, lost_after_s=0.2, start_frame=100) as source:
        frames: list[Frame] = []
        with pytest.raises(SourceError):
            frames.extend(source)
    indices = [f.index for f in frames]
    # a frame read before the camera vanished is delivered before the error
    assert indices[0] >= 100 and indices[-1] == 109 and indices == sorted(set(indices))


def test_webcam_whose_read_blocks_is_reported_lost() -> None:
    capture = FakeCapture(num_frames=3, hangs=True)
    with WebcamSource(0, capture_factory=lambda _: capture, lost_after_s=0.1) as source:
        frames: list[Frame] = []
        with pytest.raises(SourceError, match="stopped delivering frames"):
            frames.extend(source)
        assert frames[-1].index == 2
    assert capture.released.is_set() and not source.running


def test_webcam_close_stops_the_thread() -> None:
    capture = FakeCapture(num_frames=None)
    source = WebcamSource(3, capture_factory=lambda _: capture)
    iterator = iter(source)
    next(iterator), next(iterator)
    assert source.running
    source.close()
    assert not source.running and capture.released.is_set()
    assert list(iterator) == []  # a closed source ends its iteration
    source.close()  # twice is fine


@pytest.mark.parametrize("capture", [FakeCapture(num_frames=0), FakeCapture(num_frames=5, opens=False)])
def test_webcam_that_cannot_open(capture: FakeCapture) -> None:
    with pytest.raises(SourceError, match="cannot open the camera"):
        WebcamSource(1, capture_factory=lambda _: capture)
    assert capture.released.is_set()


def test_webcam_spec_must_be_a_number() -> None:
    with pytest.raises(SourceError, match="webcam:0"):
        open_source("webcam:front")
