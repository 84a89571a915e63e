"""Live webcams through OpenCV: a reader thread keeps only the newest frame.

Example:
    >>> from mocap.io.sources import open_source
    >>> with open_source("webcam:0") as camera:
    ...     for frame in camera:  # frame.index has gaps where a slow consumer skipped frames
    ...         ...
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from mocap.errors import SourceError
from mocap.io.sources import DEFAULT_IMAGE_FPS, Source, bgr_to_rgb
from mocap.types import Frame


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a webcam source uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


class WebcamSource(Source):
    """A live camera read by a background thread that keeps only the newest frame.

    A slow consumer therefore skips frames instead of falling behind: the yielded
    indices count every frame the camera delivered, so gaps show what was dropped.
    Times are seconds since the source opened. Indices start at ``start_frame``.

    Args:
        camera: OpenCV camera number (``webcam:N``).
        capture_factory: builds the capture from the camera number (``cv2.VideoCapture``).
        lost_after_s: reads failing for this long mean the camera is gone.
    """

    kind = "webcam"
    is_live = True
    num_frames = None

    def __init__(
        self,
        camera: int,
        *,
        start_frame: int = 0,
        fps: float | None = None,
        capture_factory: Callable[[int], Capture] = cv2.VideoCapture,
        lost_after_s: float = 1.0,
    ) -> None:
        self.camera = camera
        self.lost_after_s = lost_after_s
        self._capture = capture_factory(camera)
        ok, bgr = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or bgr is None:
            self._capture.release()
            raise SourceError(
                f"webcam:{camera}: cannot open the camera; check that it is plugged in, not used by another "
                "program, and that this user may access it (e.g. the `video` group), or try another number"
            )
        self.fps = float(fps) if fps else (self._capture.get(cv2.CAP_PROP_FPS) or DEFAULT_IMAGE_FPS)
        self.size_wh = (int(bgr.shape[1]), int(bgr.shape[0]))
        self.description = f"webcam webcam:{camera} ({self.size_wh[0]}x{self.size_wh[1]}, {self.fps:g} fps)"
        self._t0 = time.monotonic()
        self._cond = threading.Condition()
        self._latest: Frame | None = self._frame(start_frame, bgr)
        self._error: SourceError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, args=(start_frame + 1,), daemon=True)
        self._thread.start()

    def _frame(self, index: int, bgr: npt.NDArray[np.uint8]) -> Frame:
        return Frame(index=index, time_s=time.monotonic() - self._t0, image_rgb=bgr_to_rgb(bgr))

    def _read_loop(self, index: int) -> None:
        last_ok = time.monotonic()
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            now = time.monotonic()
            if ok and bgr is not None:
                frame, last_ok = self._frame(index, bgr), now
                index += 1
                with self._cond:
                    self._latest = frame  # an unread older frame is dropped here
                    self._cond.notify_all()
            elif now - last_ok > self.lost_after_s:
                with self._cond:
                    self._error = self._lost()
                    self._cond.notify_all()
                return
            else:
                time.sleep(0.005)  # a failed read returns at once: do not spin

    def _lost(self) -> SourceError:
        return SourceError(
            f"webcam:{self.camera}: the camera stopped delivering frames for {self.lost_after_s:g} s "
            "(unplugged or taken by another program); reconnect it and start again "
            "(use --resume to continue the same store)"
        )

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                # A driver whose read() blocks instead of failing never reports the loss: time out here too.
                arrived = self._cond.wait_for(
                    lambda: self._latest is not None or self._error is not None or self._stop.is_set(),
                    timeout=2 * self.lost_after_s,
                )
                frame, self._latest = self._latest, None
                error = self._error if arrived else self._lost()
            if self._stop.is_set():  # closed: drop what is pending
                return
            if frame is not None:
                yield frame
            elif error is not None:
                raise error

    def close(self) -> None:
        """Stop the reader thread and release the camera."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        self._capture.release()  # also wakes a read() that blocks on a vanished camera
        self._thread.join(timeout=1.0)

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread.is_alive()
