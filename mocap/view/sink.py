"""The live viewer as a capture sink: ``mocap run VIDEO --view`` / ``mocap run webcam:0 --view``.

The viewer runs in its own process (its own GIL and GL context) fed through a one-frame slot:
when the viewer lags, the frame waiting in the slot is replaced by the newest one, so the
viewer drops frames and the capture never waits. Closing the window sets :attr:`ViewerSink.closed`;
the capture loop checks it and ends the run cleanly (the store is closed "complete").

Wiring it into a capture: pass it with the other sinks, and after each frame stop the capture
(ending it as "complete") once ``sink.closed`` is true: ``capture()`` needs a stop hook for that.

Example:
    >>> sink = ViewerSink(config=ViewerConfig(visible=False), save=Path("live/"))  # doctest: +SKIP
    >>> sink.write(result, frame); sink.close("complete")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mocap.mesh.crop import default_intrinsics
from mocap.types import Frame, FrameResult
from mocap.view.config import ViewerConfig
from mocap.view.scene import (
    UNCERTAINTY_MAX_M,
    ColorBy,
    GroundPlane,
    estimate_ground,
    frame_state,
    lowest_vertices,
)

if TYPE_CHECKING:  # Open3D is imported in the viewer process only
    from mocap.view.saver import FrameSaver
    from mocap.view.viewer import Viewer

log = logging.getLogger(__name__)

VERTICES = "vertices_cam_m"
UNCERTAINTY = "vertex_uncertainty_m"
_GROUND_POINTS = 300  # recent per-person lowest points the live ground is fitted to
_GROUND_EVERY = 15  # frames between ground re-estimates
_JOIN_S = 10.0


@dataclass(frozen=True, eq=False)
class _Message:
    """What crosses the process boundary per frame: only what the viewer draws."""

    frame_index: int
    time_s: float
    size_wh: tuple[int, int]
    intrinsics: npt.NDArray[np.float64] | None
    track_ids: list[int]
    vertices_cam_m: npt.NDArray[np.floating] | None  # (N, V, 3)
    uncertainty_m: npt.NDArray[np.floating] | None  # (N, V)


class ViewerSink:
    """Shows every frame it can of a live capture in the 3D viewer, without ever slowing the capture.

    Args:
        faces: (F, 3) triangles of the meshes (default: the Anny body's, for 13,718-vertex meshes).
        config: viewer window settings (``ViewerConfig(visible=False)`` renders offscreen).
        color_by: colour per track id or per-vertex uncertainty.
        save: also write the rendered frames to a video or a PNG folder (see :class:`~mocap.view.saver.FrameSaver`).
        fps: frame rate of a saved video.
    """

    def __init__(
        self,
        faces: npt.NDArray[np.integer] | None = None,
        config: ViewerConfig | None = None,
        color_by: ColorBy = ColorBy.ID,
        save: Path | None = None,
        fps: float = 30.0,
    ) -> None:
        context = mp.get_context("spawn")  # never fork a process holding MediaPipe/torch threads
        self._pipe, receiver = context.Pipe()  # frames one way, "drawn" acknowledgements back
        self._closed_event = context.Event()
        faces_array = None if faces is None else np.asarray(faces, np.int64)
        self._process = context.Process(
            target=_viewer_main,
            args=(receiver, self._closed_event, faces_array, config, color_by, save, fps),
            name="mocap-viewer",
            daemon=True,
        )
        self._process.start()
        receiver.close()  # the viewer process holds the reading end
        self.frames_written = 0
        self.frames_dropped = 0
        # The one-frame queue: a slot the capture overwrites, emptied by a feeder thread that sends a
        # frame and waits until it is drawn; so the capture never waits and the newest frame wins.
        self._slot: _Message | None = None
        self._finishing = False
        self._wake = threading.Condition()
        self._feeder = threading.Thread(target=self._feed, name="mocap-viewer-feed", daemon=True)
        self._feeder.start()

    @property
    def closed(self) -> bool:
        """True once the viewer window was closed (or the viewer process ended): stop the capture."""
        return self._closed_event.is_set() or not self._process.is_alive()

    def write(self, result: FrameResult, frame: Frame) -> None:
        """Hand the frame to the viewer, replacing one it has not taken yet. Never blocks on the viewer."""
        if self.closed or self._finishing:
            return
        message = _message(result, frame)
        with self._wake:
            if self._slot is not None:
                self.frames_dropped += 1  # the viewer lags: it skips the stale frame
            self._slot = message
            self.frames_written += 1
            self._wake.notify()

    def close(self, status: str) -> None:
        """Let the viewer draw the last frame, then end its process."""
        with self._wake:
            self._finishing = True
            self._wake.notify()
        self._feeder.join(_JOIN_S)
        self._process.join(_JOIN_S)
        if self._process.is_alive():
            log.warning("the viewer process did not stop in %.0f s: terminating it", _JOIN_S)
            self._process.terminate()
            self._process.join()
        self._pipe.close()
        log.debug("viewer closed (run %s): %d frames, %d dropped", status, self.frames_written, self.frames_dropped)

    def _feed(self) -> None:
        """Feeder thread: send the slot's frame whenever there is one; after close, the sentinel None."""
        while True:
            with self._wake:
                while self._slot is None and not self._finishing:
                    self._wake.wait()
                message, self._slot = self._slot, None
            if message is None:  # finishing, nothing left
                break
            try:
                self._pipe.send(message)
                while not self._pipe.poll(0.1):  # wait until it is drawn: one frame in flight, never a backlog
                    if not self._process.is_alive():
                        return
                self._pipe.recv()
            except (OSError, EOFError):  # the viewer process is gone
                return
        with contextlib.suppress(OSError):
            self._pipe.send(None)


def _message(result: FrameResult, frame: Frame) -> _Message:
    vertices = result.track_fields.get(VERTICES)
    uncertainty = result.track_fields.get(UNCERTAINTY)
    return _Message(
        result.frame_index,
        result.time_s,
        result.size_wh,
        frame.intrinsics,
        [int(t) for t in result.tracks.track_id],
        None if vertices is None else np.asarray(vertices),
        None if uncertainty is None else np.asarray(uncertainty),
    )


class _LiveGround:
    """The ground under the people seen lately, re-fitted every few frames."""

    def __init__(self) -> None:
        self.points: deque[npt.NDArray[np.float64]] = deque(maxlen=_GROUND_POINTS)
        self.plane = GroundPlane()
        self.centre_m = np.array([0.0, 0.0, 3.0])
        self._frames = 0

    def update(self, vertices_m: npt.NDArray[np.floating]) -> bool:
        """Add (N, V, 3) meshes; True when the plane was re-fitted."""
        vertices = np.asarray(vertices_m, np.float64)
        vertices = vertices[np.isfinite(vertices).all(axis=(1, 2))]
        if len(vertices) == 0:
            return False
        self.points.extend(lowest_vertices(vertices, self.plane.normal_up))
        self._frames += 1
        if self._frames % _GROUND_EVERY != 1:
            return False
        self.plane = estimate_ground(np.array(self.points))
        self.centre_m = vertices.reshape(-1, 3).mean(axis=0)
        return True


class _LiveView:
    """The viewer process's state: a viewer opened on the first frame, the live ground, an optional saver."""

    def __init__(
        self,
        faces: npt.NDArray[np.int64] | None,
        config: ViewerConfig | None,
        color_by: ColorBy,
        save: Path | None,
        fps: float,
    ):
        self.faces, self.config, self.color_by = faces, config or ViewerConfig(), color_by
        self.save, self.fps = save, fps
        self.viewer: Viewer | None = None
        self.saver: FrameSaver | None = None
        self.ground = _LiveGround()
        self.drawn_at: deque[float] = deque(maxlen=30)  # times of the last draws, for the shown fps

    @property
    def fps_drawn(self) -> float:
        """Frames drawn per second over the last 30 (start-up excluded)."""
        span = self.drawn_at[-1] - self.drawn_at[0] if len(self.drawn_at) > 1 else 0.0
        return (len(self.drawn_at) - 1) / span if span > 0 else 0.0

    def draw(self, message: _Message) -> None:
        from mocap.view.replay import status_line

        viewer = self._open(message)
        if message.vertices_cam_m is not None and len(viewer.scene.faces) == 0:  # the run's first mesh
            viewer.set_faces(_faces_for(self.faces, message))
        vertices: dict[int, np.ndarray] = {}
        uncertainty: dict[int, np.ndarray] = {}
        if message.vertices_cam_m is not None and len(viewer.scene.faces):
            vertices = dict(zip(message.track_ids, message.vertices_cam_m, strict=True))
            if self.ground.update(message.vertices_cam_m):
                viewer.set_ground(self.ground.plane, self.ground.centre_m)
        if message.uncertainty_m is not None:
            uncertainty = dict(zip(message.track_ids, message.uncertainty_m, strict=True))
        note = "" if message.vertices_cam_m is not None else "no meshes in this run: showing the ground only"
        people = len(message.track_ids)
        state = frame_state(message.frame_index, message.time_s, vertices, uncertainty, self.color_by, note, people)
        self.drawn_at.append(time.perf_counter())
        viewer.show(state, status_line(state, self.fps_drawn))
        if self.saver is not None:
            self.saver.write(viewer.capture_rgb(), state.frame_index, viewer.status)

    def _open(self, message: _Message) -> Viewer:
        """The viewer, opened on the first message (its size and intrinsics are the capture's)."""
        if self.viewer is None:
            from mocap.view.saver import FrameSaver
            from mocap.view.viewer import StaticScene, Viewer

            k = default_intrinsics(message.size_wh) if message.intrinsics is None else message.intrinsics
            self.viewer = Viewer(StaticScene(_faces_for(self.faces, message), k, message.size_wh), self.config)
            colorbar = UNCERTAINTY_MAX_M if self.color_by is ColorBy.UNCERTAINTY else None
            self.saver = None if self.save is None else FrameSaver(self.save, self.fps, self.viewer.size_wh, colorbar)
        return self.viewer

    def close(self) -> None:
        if self.saver is not None:
            self.saver.close()
        if self.viewer is not None:
            self.viewer.close()


def _viewer_main(
    messages: Any,
    closed: Any,
    faces: npt.NDArray[np.int64] | None,
    config: ViewerConfig | None,
    color_by: ColorBy,
    save: Path | None,
    fps: float,
) -> None:
    """The viewer process: draw each message until the sentinel None arrives or the window is closed."""
    live = _LiveView(faces, config, color_by, save, fps)
    try:
        while live.viewer is None or not live.viewer.closed:
            if not messages.poll(0.03):
                if live.viewer is not None:
                    live.viewer.poll()  # keep the window responsive between frames
                continue
            try:
                message = messages.recv()
            except EOFError:  # the capture process is gone
                break
            if message is None:
                break
            live.draw(message)
            messages.send(True)  # drawn: the feeder may send the next frame
    finally:
        closed.set()
        live.close()


def _faces_for(faces: npt.NDArray[np.int64] | None, message: _Message) -> npt.NDArray[np.int64]:
    """The triangles to draw ``message`` 's meshes with: the given ones, else Anny's, else none (grid only)."""
    if faces is not None:
        return faces
    if message.vertices_cam_m is None:
        return np.zeros((0, 3), np.int64)
    from mocap.body.anny_body import AnnyBody

    if message.vertices_cam_m.shape[1] != AnnyBody().num_vertices:
        log.error(
            "meshes of %d vertices but no faces given: pass ViewerSink(faces=...)", message.vertices_cam_m.shape[1]
        )
        return np.zeros((0, 3), np.int64)
    return AnnyBody().faces
