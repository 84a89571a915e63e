"""Live smoothing of every track's mesh, one frame at a time (the causal half of :mod:`mocap.smooth.kalman`).

Each track keeps its own per-coordinate Kalman states over its mesh's vertex centroid and its shape about it (3 and
V*3 coordinates, camera frame, metres), each with its own process noise (``SmoothConfig``; ``SmoothConfig.live()`` by
default): the centroid also carries the placement's own noise. A frame's measurement noise comes from its per-vertex
uncertainty (by default their mean over the frame: ``SmoothConfig.per_vertex``), so a doubtful frame moves the track
less. A track unseen for longer than ``max_gap_s`` starts afresh; tracks that are gone are forgotten after that long
too. A mesh whose body turned round since the track's last one (no body turns that fast: one of the two readings is
turned the wrong way, :mod:`mocap.smooth.outliers`) is not averaged in, which would squeeze the mesh into a narrow
ghost for the frames the filter takes to forget it: the track coasts through a few such frames, then starts afresh.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from mocap.smooth.kalman import FilterState, SmoothConfig, correct, measurement_variance, predict, vertex_weights_m
from mocap.smooth.outliers import TURN_BREAK_DEG, torso_normals


class OnlineSmoother:
    """One verb: ``update(track_ids, vertices, uncertainty, time_s) -> smoothed vertices``."""

    def __init__(self, config: SmoothConfig | None = None) -> None:
        self.config = config or SmoothConfig.live()
        self.centroid_config = self.config.for_centroid()
        self._states: dict[int, tuple[FilterState, FilterState]] = {}  # track -> (shape, centroid)
        self._facing: dict[int, npt.NDArray[np.float64]] = {}  # track -> torso normal (3,) of its last measurement
        self._coasted: dict[int, int] = {}  # track -> turned measurements coasted through in a row

    def update(
        self,
        track_ids: npt.NDArray[np.int64],
        vertices_m: npt.NDArray[np.floating],
        uncertainty_m: npt.NDArray[np.floating],
        time_s: float,
        translation_variance_m2: npt.NDArray[np.floating] | None = None,
        joints_m: npt.NDArray[np.floating] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Filter one frame: vertices (N, V, 3), per-vertex uncertainty (N, V) -> smoothed (N, V, 3).

        Each mesh is filtered as its vertex centroid (3 coordinates) and its shape about it (V*3): the placement
        (``mocap.mesh.placement``) moves the whole mesh at once, and its depth, read from the 2-D size of the person,
        is far noisier than the shape. ``translation_variance_m2`` (N, 3), the placement's variance, is added to the
        centroid's measurement variance only, so a jittery depth is smoothed harder without slowing the limbs.
        (With no translation variance this is exactly the filter of the vertices themselves: every coordinate of a
        frame has the same gain unless ``SmoothConfig.per_vertex``.) With the meshes' joints (N, 33, 3), a mesh
        whose torso turned round since the track's last one is coasted through, or starts the track afresh if that
        keeps up (``_turn``).
        """
        out = np.empty(vertices_m.shape, np.float32)
        facing = None if joints_m is None else torso_normals(joints_m)  # (N, 3)
        for row, track_id in enumerate(int(t) for t in track_ids):
            vertices = np.asarray(vertices_m[row], np.float64)  # (V, 3)
            centroid = vertices.mean(axis=0)  # (3,)
            weights_m = vertex_weights_m(uncertainty_m[row], self.config)  # (V,)
            shape_variance = measurement_variance(np.repeat(weights_m, 3), self.config)  # (V*3,)
            centroid_variance = shape_variance.reshape(-1, 3).mean(axis=0)  # (3,)
            if translation_variance_m2 is not None:
                centroid_variance = centroid_variance + np.asarray(translation_variance_m2[row], np.float64)
            shape = (vertices - centroid).reshape(-1)
            states = self._states.get(track_id)
            if states is None or time_s - states[0].time_s > self.config.max_gap_s:
                turn = "restart"
            else:
                turn = "no" if facing is None else self._turn(track_id, facing[row])
            if turn == "restart" or states is None:
                states = (
                    FilterState.start(shape, shape_variance, time_s),
                    FilterState.start(centroid, centroid_variance, time_s),
                )
            elif turn == "coast":
                states = (predict(states[0], time_s, self.config), predict(states[1], time_s, self.centroid_config))
            else:
                states = (
                    correct(predict(states[0], time_s, self.config), shape, shape_variance),
                    correct(predict(states[1], time_s, self.centroid_config), centroid, centroid_variance),
                )
            if facing is not None and turn != "coast":
                self._facing[track_id] = facing[row]
            self._states[track_id] = states
            out[row] = states[0].position.reshape(vertices.shape) + states[1].position
        self._forget(time_s)
        return out

    def _turn(self, track_id: int, facing: npt.NDArray[np.float64]) -> Literal["no", "coast", "restart"]:
        """``"no"``, or how to take a measurement whose torso (normal (3,)) turned round since the track's last
        accepted one: ``"coast"`` through up to ``turn_window_frames // 2`` of them in a row (a misread frame or
        two), then ``"restart"`` on it (the track was misread before, or the turn is real)."""
        last = self._facing.get(track_id)
        if last is None or float(last @ facing) >= np.cos(np.radians(TURN_BREAK_DEG)):
            self._coasted[track_id] = 0
            return "no"
        self._coasted[track_id] = self._coasted.get(track_id, 0) + 1
        if self._coasted[track_id] <= self.config.turn_window_frames // 2:
            return "coast"
        self._coasted[track_id] = 0
        return "restart"

    def _forget(self, time_s: float) -> None:
        for track_id in [t for t, s in self._states.items() if time_s - s[0].time_s > self.config.max_gap_s]:
            del self._states[track_id]
            self._facing.pop(track_id, None)
            self._coasted.pop(track_id, None)

    def reset(self) -> None:
        self._states.clear()
        self._facing.clear()
        self._coasted.clear()
