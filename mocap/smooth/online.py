"""Live smoothing of every track's mesh, one frame at a time (the causal half of :mod:`mocap.smooth.kalman`).

Each track keeps its own per-coordinate Kalman state over the flattened vertices (V*3
coordinates, camera frame, metres). A frame's measurement noise comes from its per-vertex
uncertainty (by default their mean over the frame: ``SmoothConfig.per_vertex``), so a doubtful
frame moves the track less. A track unseen for longer than
``max_gap_s`` starts afresh; tracks that are gone are forgotten after that long too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mocap.smooth.kalman import FilterState, SmoothConfig, correct, measurement_variance, predict, vertex_weights_m


class OnlineSmoother:
    """One verb: ``update(track_ids, vertices, uncertainty, time_s) -> smoothed vertices``."""

    def __init__(self, config: SmoothConfig | None = None) -> None:
        self.config = config or SmoothConfig()
        self._states: dict[int, FilterState] = {}

    def update(
        self,
        track_ids: npt.NDArray[np.int64],
        vertices_m: npt.NDArray[np.floating],
        uncertainty_m: npt.NDArray[np.floating],
        time_s: float,
        translation_variance_m2: npt.NDArray[np.floating] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Filter one frame: vertices (N, V, 3), per-vertex uncertainty (N, V) -> smoothed (N, V, 3).

        ``translation_variance_m2`` (N, 3): the variance of where each mesh was placed (``mocap.mesh.placement``),
        added to every vertex's measurement variance on that axis: the placement moves the whole mesh at once, and
        its depth, read from the 2-D size of the person, is far noisier than the shape.
        """
        out = np.empty(vertices_m.shape, np.float32)
        for row, track_id in enumerate(int(t) for t in track_ids):
            position = np.asarray(vertices_m[row], np.float64).reshape(-1)  # (V*3,)
            weights_m = vertex_weights_m(uncertainty_m[row], self.config)  # (V,)
            variance = measurement_variance(np.repeat(weights_m, 3), self.config)
            if translation_variance_m2 is not None:
                variance = variance + np.tile(np.asarray(translation_variance_m2[row], np.float64), len(weights_m))
            state = self._states.get(track_id)
            if state is None or time_s - state.time_s > self.config.max_gap_s:
                state = FilterState.start(position, variance, time_s)
            else:
                state = correct(predict(state, time_s, self.config), position, variance)
            self._states[track_id] = state
            out[row] = state.position.reshape(vertices_m.shape[1:])
        self._forget(time_s)
        return out

    def _forget(self, time_s: float) -> None:
        for track_id in [t for t, s in self._states.items() if time_s - s.time_s > self.config.max_gap_s]:
            del self._states[track_id]

    def reset(self) -> None:
        self._states.clear()
