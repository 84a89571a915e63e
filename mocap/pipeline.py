"""The capture pipeline: Source -> Detector -> Tracker -> FrameResult -> sinks.

``Pipeline.process(frame)`` is the one verb: a frame in, a :class:`FrameResult` out.
``capture(...)`` drives a whole source into sinks (the zarr store, an overlay video)
and makes sure that whatever happens (a broken video, a vanished webcam, Ctrl-C)
every processed frame is flushed and the store is closed with an honest status.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mocap.body.landmarks import regress_landmarks
from mocap.detect.pose import DetectConfig, PoseDetector
from mocap.draw.overlay import draw_status, draw_tracks
from mocap.errors import NoPersonError
from mocap.io.sources import Source
from mocap.io.store import RunStore, StoreWriter
from mocap.io.video_writer import VideoWriter
from mocap.mesh.crop import default_intrinsics
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.stage import MeshEstimator
from mocap.smooth.kalman import SmoothConfig
from mocap.smooth.online import OnlineSmoother
from mocap.track.sides import SideConfig, SideKeeper, align_mirror
from mocap.track.tracker import TrackConfig, Tracker
from mocap.types import Frame, FrameResult, TrackState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what ``mocap run`` computes; stored in the run's attrs."""

    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    sides: SideConfig = field(default_factory=SideConfig)  # undo the detector's left-right swaps per track
    mesh: bool = True  # run MEGA per tracked person (off: landmarks and tracks only)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    live_smooth: SmoothConfig = field(default_factory=SmoothConfig.live)  # the causal filter, every mode
    offline_smooth: SmoothConfig = field(default_factory=SmoothConfig)  # the forward-backward pass of offline runs
    focal_px: float | None = None  # when the camera is unknown: f = max(W, H)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Sink(Protocol):
    """Receives every frame's result; ``close`` is always called, also after an error."""

    def write(self, result: FrameResult, frame: Frame) -> None: ...

    def close(self, status: str) -> None: ...


class Pipeline:
    """Detect and track people frame by frame; with a mesh estimator, add each person's mesh."""

    def __init__(self, config: RunConfig, *, first_track_id: int = 1, mesh: MeshEstimator | None = None) -> None:
        self.config = config
        self.detector = PoseDetector(config.detect)
        self.tracker = Tracker(config.track, first_track_id=first_track_id)
        self.sides = SideKeeper(config.sides)
        self.mesh = mesh
        self.smoother = OnlineSmoother(config.live_smooth)
        self._last_index: int | None = None

    def resume(self, store: RunStore) -> list[int]:
        """Continue after the last frame of ``store`` (a run that was interrupted): the tracks it ended with,
        matched within the tracker's ``max_lost_frames``, are taken up again, so those people keep their ids.
        Returns their ids. (The online smoother starts afresh for them; offline runs smooth the whole store after.)"""
        last = store.last_frame_index
        if last < 0:
            return []
        restored = []
        for track_id in store.track_ids:
            track = store.track(track_id, ("xyxy_px", "landmarks_px"))
            if not len(track):
                continue
            unmatched = last - int(track.frame_index[-1])
            if unmatched <= self.config.track.max_lost_frames:
                self.tracker.restore(track_id, track["xyxy_px"][-1], track["landmarks_px"][-1], unmatched)
                restored.append(track_id)
        self._last_index = last
        return restored

    def intrinsics(self, frame: Frame) -> np.ndarray:
        """The frame's pinhole matrix (3, 3): its own, else from ``focal_px``, else f = max(W, H)."""
        if frame.intrinsics is not None:
            return frame.intrinsics
        k = default_intrinsics(frame.size_wh)
        if self.config.focal_px:
            k[0, 0] = k[1, 1] = self.config.focal_px
        return k

    def process(self, frame: Frame) -> FrameResult:
        """Detect and track the people in ``frame``; the result holds the confirmed, matched tracks."""
        started = time.perf_counter()
        # A live source drops frames: let the tracker predict across the gap.
        gap = 1 if self._last_index is None else max(1, frame.index - self._last_index)
        self._last_index = frame.index
        detections = self.detector.detect(frame)
        tracked = self.tracker.update(detections, frame_gap=gap, image_rgb=frame.image_rgb)
        tracks = self.sides.keep(tracked, gap)
        kept = (tracks.state == TrackState.CONFIRMED) & (tracks.detection_index >= 0)
        written = tracks[kept]
        fields: dict[str, np.ndarray] = {}
        if self.mesh is not None and len(written):
            mirror = None
            if detections.mirror is not None:
                mirror = align_mirror(
                    written.landmarks_px, detections.mirror[written.detection_index], self.config.sides
                )
            estimate = self.mesh.estimate(written, self.intrinsics(frame), started_s=started, mirror=mirror)
            fields = estimate.track_fields()
            meshes = estimate.meshes
            smoothed = self.smoother.update(
                meshes.track_id,
                meshes.vertices_cam_m,
                meshes.vertex_uncertainty_m,
                frame.time_s,
                estimate.translation_variance_m2,
                meshes.joints_cam_m,
            )
            fields["vertices_smoothed_cam_m"] = smoothed.astype(np.float16)
            fields["joints_smoothed_cam_m"] = regress_landmarks(torch.from_numpy(smoothed)).numpy()
        if len(written):  # which people's left and right the side keeper exchanged back (their landmarks changed)
            fields["sides_relabelled"] = np.any(tracks.landmarks_px != tracked.landmarks_px, axis=(1, 2))[kept]
        return FrameResult(frame.index, frame.time_s, frame.size_wh, written, fields)

    def close(self) -> None:
        self.detector.close()


class StoreSink:
    """Appends every result to a zarr store."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer

    def write(self, result: FrameResult, frame: Frame) -> None:
        self.writer.write(result)

    def close(self, status: str) -> None:
        self.writer.close(status=status)


class OverlaySink:
    """Writes an H.264 video of the frames with boxes, ids and skeletons drawn on them."""

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int]) -> None:
        self.video = VideoWriter(path, fps, size_wh)

    def write(self, result: FrameResult, frame: Frame) -> None:
        image = draw_tracks(frame.image_rgb, result.tracks)
        self.video.write(draw_status(image, f"frame {result.frame_index}  people {len(result.tracks)}"))

    def close(self, status: str) -> None:
        self.video.close()


def prefetch(frames: Iterable[Frame], depth: int = 4) -> Iterator[Frame]:
    """Decode ahead in a thread: yields the frames of ``frames`` in order, decoding the next ones
    while the caller works on the current one (PyAV and MediaPipe both release the GIL, so on
    two cores decoding mostly hides behind detection). Errors of the source are re-raised here,
    in order, after the frames decoded before them."""
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        buffer.put(("frame", frame), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("end", None))
        except BaseException as error:  # handed to the consumer, raised there
            buffer.put(("error", error))

    thread = threading.Thread(target=produce, name="mocap-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = buffer.get()
            if kind == "frame":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass
class CaptureStats:
    """What a capture did: shown by the CLI and used by the benchmarks."""

    frames: int = 0
    person_frames: int = 0
    track_ids: set[int] = field(default_factory=set)
    first_index: int | None = None
    last_index: int | None = None
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def capture(
    source: Source,
    pipeline: Pipeline,
    sinks: Iterable[Sink],
    *,
    on_frame: Callable[[FrameResult, CaptureStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    require_person: bool = True,
) -> CaptureStats:
    """Run ``pipeline`` over every frame of ``source`` into ``sinks``.

    Sinks are closed in every case: with status "complete" when the source ended
    (or a live source was stopped with Ctrl-C, or ``should_stop()`` said so after a
    frame, e.g. the viewer window was closed), "interrupted" on any error, so a
    store keeps every frame that was processed and can be resumed.

    Raises:
        NoPersonError: after a complete run in which nobody was ever tracked
            (the store is still written and closed first).
    """
    sinks = list(sinks)
    stats = CaptureStats()
    status = "interrupted"
    start = time.perf_counter()
    # A live source already decodes in its own thread and must drop, not queue, frames.
    frames = iter(source) if source.is_live else prefetch(source)
    try:
        for frame in frames:
            result = pipeline.process(frame)
            for sink in sinks:
                sink.write(result, frame)
            stats.frames += 1
            stats.person_frames += len(result.tracks)
            stats.track_ids.update(int(i) for i in result.tracks.track_id)
            stats.first_index = frame.index if stats.first_index is None else stats.first_index
            stats.last_index = frame.index
            stats.seconds = time.perf_counter() - start
            if on_frame is not None:
                on_frame(result, stats)
            if should_stop is not None and should_stop():
                log.info("capture stopped after %d frames (viewer closed)", stats.frames)
                break
        status = "complete"
    except KeyboardInterrupt:
        if not source.is_live:
            raise
        status = "complete"  # stopping a webcam with Ctrl-C is the normal way to end a live capture
        log.info("live capture stopped by the user after %d frames", stats.frames)
    finally:
        if isinstance(frames, Generator):
            frames.close()  # stop the decoding thread before anyone closes the source under it
        stats.seconds = time.perf_counter() - start
        for sink in sinks:
            sink.close(status)
        pipeline.close()
    if require_person and stats.frames > 0 and not stats.track_ids:
        raise NoPersonError(
            f"nobody was tracked in {stats.frames} frames of {source.description}: check that people are visible "
            "and at least ~1/6 of the frame tall, or lower --min-confidence"
        )
    return stats
