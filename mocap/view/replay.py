"""Replaying a store in the viewer: play/pause/step/speed/track toggles, follow mode, saving frames.

Two ways to drive the viewer:

- interactive (a window): real time at the store's fps times ``speed``; keys space play/pause,
  left/right step, +/- speed, 1-9 toggle the 1st..9th track of the store, c/o capture-camera or
  orbit view, q (or closing the window) quits. ``follow`` keeps jumping to the newest committed frame.
- saving (``--save``, offscreen): every frame rendered once, in order, into a video or PNGs;
  ``follow`` keeps rendering frames as a writer commits them.

Follow mode ends when the store's status becomes final, or when the writer process named in its
lock file has been gone for ``writer_grace_s`` (a killed writer never writes "interrupted").

Example:
    >>> frames = StoreFrames("run.zarr")  # doctest: +SKIP
    >>> viewer = Viewer(frames.static_scene(), ViewerConfig(visible=False))  # doctest: +SKIP
    >>> replay(frames, viewer, ReplayConfig(), FrameSaver("out.mp4", frames.fps, viewer.size_wh))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mocap.view.config import Viewpoint
from mocap.view.saver import FrameSaver
from mocap.view.scene import FrameState
from mocap.view.store_frames import StoreFrames
from mocap.view.viewer import (
    KEY_C,
    KEY_DIGITS,
    KEY_EQUAL,
    KEY_ESCAPE,
    KEY_KP_ADD,
    KEY_KP_SUBTRACT,
    KEY_LEFT,
    KEY_MINUS,
    KEY_O,
    KEY_PLUS,
    KEY_Q,
    KEY_RIGHT,
    KEY_SPACE,
    Viewer,
)

log = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 1 / 16, 16.0
_GROUND_EVERY_FRAMES = 30  # follow mode: re-estimate the ground after this many new frames


@dataclass
class Playback:
    """Where a replay stands: the frame shown (its position in store order), play state, speed, hidden tracks.

    Playing follows the frames' own times (``time_s``), so a live store with dropped frames plays
    in real time too.
    """

    num_frames: int
    playing: bool = True
    speed: float = 1.0
    position: float = 0.0
    hidden: set[int] = field(default_factory=set)
    quit_requested: bool = False
    clock_s: float | None = None  # the source time being shown; None after a jump (then the frame's own time)

    @property
    def index(self) -> int:
        """The frame position shown, 0 .. num_frames - 1."""
        return max(0, min(int(self.position), self.num_frames - 1))

    @property
    def at_end(self) -> bool:
        return self.index >= self.num_frames - 1

    def toggle_play(self) -> None:
        if not self.playing and self.at_end:
            self.jump(0)  # play again from the start
        self.playing = not self.playing

    def step(self, delta: int) -> None:
        """Pause and move ``delta`` frames (clamped to the store)."""
        self.playing = False
        self.jump(self.index + delta)

    def jump(self, position: int) -> None:
        """Show the frame at ``position`` (clamped to the store)."""
        self.position = float(max(0, min(position, self.num_frames - 1)))
        self.clock_s = None

    def faster(self) -> None:
        self.speed = min(MAX_SPEED, self.speed * 2)

    def slower(self) -> None:
        self.speed = max(MIN_SPEED, self.speed / 2)

    def toggle_track(self, track_id: int) -> None:
        self.hidden ^= {track_id}

    def quit(self) -> None:
        self.quit_requested = True

    def advance(self, seconds: float, time_s: npt.NDArray[np.float64]) -> int:
        """Let ``seconds`` of wall time pass (times the speed) when playing; pauses on the last frame.

        Args:
            seconds: wall time since the last call.
            time_s: (num_frames,) the frames' presentation times, ascending.
        """
        if self.playing and self.num_frames:
            start = float(time_s[self.index]) if self.clock_s is None else self.clock_s
            self.clock_s = start + seconds * self.speed
            reached = int(np.searchsorted(time_s[: self.num_frames], self.clock_s, side="right")) - 1
            self.position = float(max(self.index, min(reached, self.num_frames - 1)))
            if self.at_end:
                self.playing = False
        return self.index


@dataclass(frozen=True)
class ReplayConfig:
    """How a store is replayed.

    Attributes:
        follow: keep reading frames a writer commits until the store is closed.
        speed: playback speed (interactive), or how much faster the saved video runs.
        poll_s: how often follow mode re-reads the store.
        writer_grace_s: how long a store may say "writing" with no live writer before follow stops.
    """

    follow: bool = False
    speed: float = 1.0
    poll_s: float = 0.2
    writer_grace_s: float = 3.0


@dataclass
class ReplayStats:
    """What a replay showed; ``fps`` is the viewer's rendering rate."""

    frames_shown: int = 0
    seconds: float = 0.0
    last_frame_index: int | None = None

    @property
    def fps(self) -> float:
        return self.frames_shown / self.seconds if self.seconds > 0 else 0.0


def status_line(state: FrameState, fps: float, playback: Playback | None = None) -> str:
    """The text the legacy viewer cannot overlay: frame index, time, fps, people (and play state)."""
    text = f"frame {state.frame_index}  {state.time_s:.2f} s  {fps:.1f} fps  people {state.num_people}"
    if playback is not None:
        text += f"  x{playback.speed:g}" + ("" if playback.playing else "  paused")
    return text + (f"\n{state.note}" if state.note else "")


class _Follower:
    """Polls a store for new frames, keeps the viewer's faces and ground up to date, and says when to stop."""

    def __init__(self, frames: StoreFrames, viewer: Viewer, config: ReplayConfig) -> None:
        self.frames, self.viewer, self.config = frames, viewer, config
        self._last_poll = 0.0
        self._writer_gone_since: float | None = None
        self._grounded_at = frames.num_frames  # frames seen when the ground was last placed

    def poll(self) -> int:
        """Re-read the store at most every ``poll_s``; returns the number of new frames."""
        now = time.perf_counter()
        if now - self._last_poll < self.config.poll_s:
            return 0
        self._last_poll = now
        new = self.frames.refresh()
        if self.frames.complete or self.frames.writer_alive:
            self._writer_gone_since = None
        elif self._writer_gone_since is None:
            self._writer_gone_since = now
        if new:
            self._update_scene()
        return new

    @property
    def done(self) -> bool:
        if self.frames.complete:
            return True
        gone = self._writer_gone_since
        return gone is not None and time.perf_counter() - gone > self.config.writer_grace_s

    def _update_scene(self) -> None:
        if self.frames.has_meshes and len(self.viewer.scene.faces) == 0:  # the store's first mesh
            self.viewer.set_faces(self.frames.faces())
        if self._grounded_at == 0 or self.frames.num_frames - self._grounded_at >= _GROUND_EVERY_FRAMES:
            _place_ground(self.frames, self.viewer, viewpoint=self._grounded_at == 0)
            self._grounded_at = self.frames.num_frames


def _place_ground(frames: StoreFrames, viewer: Viewer, *, viewpoint: bool) -> None:
    plane, centre_m = frames.ground()
    viewer.set_ground(plane, centre_m)
    if viewpoint:
        viewer.set_viewpoint(centre_m)


def replay(
    frames: StoreFrames,
    viewer: Viewer,
    config: ReplayConfig,
    saver: FrameSaver | None = None,
    playback: Playback | None = None,
) -> ReplayStats:
    """Show a store in ``viewer``: every frame into ``saver`` when given, else interactively in real time.

    ``playback`` (interactive only) is the state the keys drive; pass one to steer a replay from code.
    """
    _place_ground(frames, viewer, viewpoint=True)
    if frames.note:
        log.warning("%s: %s", frames.path, frames.note)
    if saver is not None:
        return _save_all(frames, viewer, config, saver)
    return _interactive(frames, viewer, config, playback or Playback(frames.num_frames, speed=config.speed))


def _save_all(frames: StoreFrames, viewer: Viewer, config: ReplayConfig, saver: FrameSaver) -> ReplayStats:
    """Render every committed frame once, in order; in follow mode also those committed meanwhile."""
    stats, start = ReplayStats(), time.perf_counter()
    follower = _Follower(frames, viewer, config) if config.follow else None
    position = 0
    while True:
        while position < frames.num_frames:
            state = frames.state(position)
            viewer.show(state)
            stats.frames_shown += 1
            stats.seconds = time.perf_counter() - start
            saver.write(viewer.capture_rgb(), state.frame_index, status_line(state, frames.fps * config.speed))
            stats.last_frame_index = state.frame_index
            position += 1
        if follower is None or follower.done:
            break
        if follower.poll() == 0:
            time.sleep(config.poll_s / 4)
    if stats.frames_shown == 0:  # nothing stored: still show the scene, and say why it is empty
        viewer.show(FrameState(0, 0.0, note="no frames in this store"))
        saver.write(viewer.capture_rgb(), 0, viewer.status)
    stats.seconds = time.perf_counter() - start
    return stats


def _bind_keys(viewer: Viewer, playback: Playback, frames: StoreFrames) -> None:
    viewer.on_key(KEY_SPACE, playback.toggle_play)
    viewer.on_key(KEY_RIGHT, lambda: playback.step(+1))
    viewer.on_key(KEY_LEFT, lambda: playback.step(-1))
    for key in (KEY_PLUS, KEY_EQUAL, KEY_KP_ADD):
        viewer.on_key(key, playback.faster)
    for key in (KEY_MINUS, KEY_KP_SUBTRACT):
        viewer.on_key(key, playback.slower)
    for slot, key in enumerate(KEY_DIGITS):
        viewer.on_key(key, functools.partial(_toggle_slot, playback, frames, slot))
    for key in (KEY_Q, KEY_ESCAPE):
        viewer.on_key(key, playback.quit)
    viewer.on_key(KEY_C, lambda: viewer.set_viewpoint(viewpoint=Viewpoint.CAMERA))
    viewer.on_key(KEY_O, lambda: viewer.set_viewpoint(viewpoint=Viewpoint.ORBIT))


def _toggle_slot(playback: Playback, frames: StoreFrames, slot: int) -> None:
    if slot < len(frames.track_ids):
        playback.toggle_track(frames.track_ids[slot])


def _interactive(frames: StoreFrames, viewer: Viewer, config: ReplayConfig, playback: Playback) -> ReplayStats:
    """Real-time playback in a window until q, the window is closed, or (follow) the store is closed."""
    _bind_keys(viewer, playback, frames)
    follower = _Follower(frames, viewer, config) if config.follow else None
    stats, start = ReplayStats(), time.perf_counter()
    last_tick, last_log, shown = start, start, None
    while not viewer.closed and not playback.quit_requested:
        now = time.perf_counter()
        if follower is not None:
            at_live_edge = playback.index >= playback.num_frames - 1
            if follower.poll():
                playback.num_frames = frames.num_frames
                if at_live_edge:  # keep showing the newest frame (unless the user stepped back)
                    playback.jump(frames.num_frames - 1)
        index = playback.advance(now - last_tick, frames.time_s)
        last_tick = now
        key = (index, frozenset(playback.hidden), frames.num_frames)
        if frames.num_frames and key != shown:
            state = frames.state(index, hidden=sorted(playback.hidden))
            stats.frames_shown += 1
            stats.seconds = now - start
            stats.last_frame_index = state.frame_index
            viewer.show(state, status_line(state, stats.fps, playback))
            shown = key
        elif not viewer.poll():
            break
        last_on_screen = frames.num_frames == 0 or (shown is not None and index >= frames.num_frames - 1)
        if follower is not None and follower.done and last_on_screen:
            break  # the writer is done and its last frame is on screen (a user who stepped back stays)
        if now - last_log > 1.0:  # the legacy window cannot show text: the status goes to the log
            log.info("%s", viewer.status)
            last_log = now
        time.sleep(0.005)
    stats.seconds = time.perf_counter() - start
    return stats
