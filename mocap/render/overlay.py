"""Meshes of a run store shaded over the video they came from: :class:`MeshOverlay` and :func:`render_overlay`.

The meshes are drawn by the 3D viewer (:class:`~mocap.view.viewer.Viewer`, offscreen via EGL)
from the capture camera's viewpoint at the video's own resolution (on a larger canvas when the
principal point is off the centre: :func:`~mocap.render.composite.centred_canvas`), over a key background
(:data:`~mocap.render.composite.KEY_RGB`); the key gives the mask, and the render is blended
over the frame only inside it. Frames are matched to store rows by their index, never by
position: a store that skipped frames (or a video longer than the run) leaves those frames as they
were.

Example:
    >>> stats = render_overlay("run.zarr", "clip.mp4", "overlay.mp4", OverlayConfig(alpha=0.7))  # doctest: +SKIP
    >>> stats.frames, stats.frames_with_people  # doctest: +SKIP
    (90, 88)
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from mocap.errors import ConfigError, StoreError
from mocap.io.sources import open_source
from mocap.io.video_writer import VideoWriter
from mocap.mesh.crop import default_intrinsics
from mocap.render.composite import (
    KEY_RGB,
    blend_masked,
    centred_canvas,
    draw_track_ids,
    label_anchor_px,
    mesh_mask,
)
from mocap.types import Frame
from mocap.view.config import ViewerConfig
from mocap.view.saver import draw_colorbar
from mocap.view.scene import UNCERTAINTY_MAX_M, ColorBy, FrameState, track_color_rgb
from mocap.view.store_frames import StoreFrames
from mocap.view.viewer import StaticScene, Viewer

log = logging.getLogger(__name__)

RAW_VERTICES = "vertices_cam_m"
SMOOTHED_VERTICES = "vertices_smoothed_cam_m"


@dataclass(frozen=True)
class OverlayConfig:
    """How the meshes are laid over the frames.

    Attributes:
        alpha: opacity of the meshes over the frame, in [0, 1].
        color_by: a colour per track id, or per-vertex uncertainty on a 0-30 mm ramp (with a colour bar).
        raw: draw the raw per-frame meshes even when the store holds smoothed ones.
        tracks: draw only these track ids (None: all).
        draw_ids: write each track id above its person.
    """

    alpha: float = 0.7
    color_by: ColorBy = ColorBy.ID
    raw: bool = False
    tracks: tuple[int, ...] | None = None
    draw_ids: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1] (0 invisible, 1 opaque meshes), but got {self.alpha}")

    @property
    def vertex_fields(self) -> tuple[str, ...]:
        """Store fields to draw, by preference per track."""
        return (RAW_VERTICES,) if self.raw else (SMOOTHED_VERTICES, RAW_VERTICES)


class MeshOverlay:
    """Draws a store's meshes over frames of its source video; one verb, :meth:`draw`.

    Args:
        store: a run store written with meshes (``mocap run`` without ``--no-mesh``, or ``mocap synth``).
        size_wh: the video's (width, height); must be the size the store was captured at.
        config: opacity, colours, which vertices and tracks.

    Raises:
        StoreError: no store there, or it holds no meshes.
        ConfigError: the video's size differs from the store's source, or none of ``config.tracks`` is there.
    """

    def __init__(self, store: str | os.PathLike[str], size_wh: tuple[int, int], config: OverlayConfig) -> None:
        self.config = config
        self.size_wh = size_wh
        self.frames = StoreFrames(store, config.color_by, config.tracks, vertices=config.vertex_fields)
        if self.frames.track_ids and not self.frames.has_meshes:
            raise StoreError(
                f"{store} holds tracks but no meshes ({RAW_VERTICES}): run `mocap run` with the mesh model "
                "(without --no-mesh) to write them, or `mocap synth` without --no-vertices for a synthetic clip"
            )
        _check_size(self.frames, size_wh)
        if config.tracks is not None and not self.frames.track_ids:
            raise ConfigError(
                f"none of the tracks {list(config.tracks)} is in {store}; it has {self.frames.store.track_ids}: "
                "choose --tracks from those"
            )
        if self.frames.note:
            log.warning("%s: %s", store, self.frames.note)
        stored = self.frames.store.attrs.get("intrinsics")
        self.intrinsics = default_intrinsics(size_wh) if stored is None else np.asarray(stored, np.float64)
        self._positions = {int(index): p for p, index in enumerate(self.frames.store.frame_index)}
        self._viewer: Viewer | None = None  # opened at the first frame with a mesh: a store may have none
        self._offset_xy = (0, 0)  # the frame's top-left corner in the (larger) render canvas
        self.frames_drawn = 0  # frames with at least one mesh drawn

    def draw(self, frame: Frame) -> npt.NDArray[np.uint8]:
        """``frame`` with the meshes of the tracks present at ``frame.index``; the frame itself when there are none."""
        if frame.size_wh != self.size_wh:
            raise ConfigError(f"frame {frame.index} is {frame.size_wh} pixels, but this overlay is for {self.size_wh}")
        position = self._positions.get(frame.index)
        if position is None:
            return frame.image_rgb
        state = self.frames.state(position)
        if not state.meshes:
            return frame.image_rgb
        viewer = self._open_viewer()
        viewer.show(state)
        x, y = self._offset_xy
        w, h = self.size_wh
        render_rgb = viewer.capture_rgb()[y : y + h, x : x + w]  # the frame's window of the canvas, scale 1
        image = blend_masked(frame.image_rgb, render_rgb, mesh_mask(render_rgb), self.config.alpha)
        if self.config.draw_ids:
            image = self._draw_ids(image, state)
        if self.config.color_by is ColorBy.UNCERTAINTY:
            image = draw_colorbar(image, UNCERTAINTY_MAX_M)
        self.frames_drawn += 1
        return image

    def close(self) -> None:
        """Release the offscreen renderer; safe to call twice."""
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    def __enter__(self) -> MeshOverlay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- private --

    def _open_viewer(self) -> Viewer:
        if self._viewer is None:
            intrinsics, canvas_wh, self._offset_xy = centred_canvas(self.intrinsics, self.size_wh)
            config = ViewerConfig(
                max_size_px=max(canvas_wh),  # scale 1: one render pixel per video pixel
                visible=False,
                show_grid=False,
                show_frustum=False,
                background_rgb=(KEY_RGB[0] / 255, KEY_RGB[1] / 255, KEY_RGB[2] / 255),
                title="mocap render",
            )
            self._viewer = Viewer(StaticScene(self.frames.faces(), intrinsics, canvas_wh), config)
        return self._viewer

    def _draw_ids(self, image_rgb: npt.NDArray[np.uint8], state: FrameState) -> npt.NDArray[np.uint8]:
        anchors, ids = [], []
        for mesh in state.meshes:
            anchor = label_anchor_px(mesh.vertices_cam_m, self.intrinsics)
            if anchor is not None:
                anchors.append(anchor)
                ids.append(mesh.track_id)
        return draw_track_ids(image_rgb, anchors, ids, track_color_rgb(ids)) if ids else image_rgb


def _check_size(frames: StoreFrames, size_wh: tuple[int, int]) -> None:
    source = frames.store.attrs.get("source") or {}
    recorded = source.get("size_wh")
    if recorded and tuple(int(v) for v in recorded) != tuple(size_wh):
        w, h = (int(v) for v in recorded)
        raise ConfigError(
            f"the video is {size_wh[0]}x{size_wh[1]} but {frames.path} was captured from a {w}x{h} source "
            f"({source.get('path') or 'path not recorded'}): pass the video the store was made from"
        )


@dataclass(frozen=True)
class RenderStats:
    """What :func:`render_overlay` did.

    Attributes:
        frames: frames written (every decoded frame up to ``max_frames``).
        frames_with_people: frames with at least one mesh drawn.
        seconds: wall time of the decode-draw-encode loop (opening the store and the video left out).
    """

    frames: int
    frames_with_people: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def render_overlay(
    store: str | os.PathLike[str],
    video: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: OverlayConfig | None = None,
    max_frames: int | None = None,
) -> RenderStats:
    """Write ``output`` (H.264): every frame of ``video`` with the meshes of ``store`` laid over it.

    Raises:
        StoreError: no store, or a store without meshes.
        SourceError: the video is missing or unreadable.
        ConfigError: the video's size differs from the store's source, or ``output`` cannot be written.
    """
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be at least 1, but got {max_frames}")
    config = config or OverlayConfig()
    written = 0
    with open_source(Path(video)) as source, MeshOverlay(store, source.size_wh, config) as overlay:
        with VideoWriter(Path(output), source.fps, source.size_wh) as writer:
            start = time.perf_counter()
            for frame in islice(source, max_frames):
                writer.write(overlay.draw(frame))
                written += 1
                if written % 100 == 0:
                    log.info("rendered %d frames (%d with people)", written, overlay.frames_drawn)
        return RenderStats(written, overlay.frames_drawn, time.perf_counter() - start)
