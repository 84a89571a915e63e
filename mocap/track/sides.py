"""Left and right kept per track: undoing the detector's left-right label swaps.

MediaPipe now and then labels a person's left landmarks as their right ones for a frame or a few (seen on the
Sports2D demo: a man facing the camera, read as facing away on 13 of his first 73 frames). The 2-D points land on
the same places, so the swap is invisible on a skeleton overlay, but everything downstream reads a body turned half
a turn: MEGA's mesh faces away, and the smoother, averaging a body with its own half-turned twin, squeezed it into a
narrow ghost (under 15 cm across the shoulders on 31 frames offline). A real turn takes many frames and passes
through profile; a swap takes one. So each frame's landmarks are compared with the same track's previous ones, as
labelled and with left and right exchanged (:func:`swap_gain_px`), and relabelled when the exchange fits far better;
the world landmarks are also mirrored back in depth (:func:`unswap_world`).

If a track began on swapped frames, the right labels would look swapped against it. So each track banks a frame of
credit for every frame the detector agrees with it (up to ``SideConfig.credit``) and spends one on every frame it
relabels; with none left, the detector's labels are taken as they come and the track follows them from then on. A
long-agreed track holds through a swap of up to a second; a new one gives way after as many frames as it has had.

Frames: image pixels (x right, y down); landmarks (N, 33, 3) as x_px, y_px, visibility.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.types import MirrorView, Tracks

PAIRED = np.flatnonzero(np.arange(len(LANDMARK_MIRROR)) != LANDMARK_MIRROR)  # landmarks with a left/right twin


@dataclass(frozen=True)
class SideConfig:
    """When a detection's left and right are exchanged back.

    Attributes:
        enabled: off: the detector's labels pass unchanged.
        min_gain: the exchange must bring the landmarks closer to the reference by at least this many heights of the
            person's box (mean over the paired landmarks): 0.1. In profile, left and right nearly coincide and both
            readings fit; nothing is exchanged then.
        max_ratio: ... and to at most this fraction of the distance as labelled: 0.5.
        credit: the most frames of agreement a track banks, so the longest swap it undoes: 30 = 1 s at 30 fps.
        max_gap: frames a track may go unseen and still be compared with its last landmarks: 3. After a longer
            absence the person may have turned; their next landmarks become the reference as they are.
    """

    enabled: bool = True
    min_gain: float = 0.1
    max_ratio: float = 0.5
    credit: int = 30
    max_gap: int = 3


def relabel(landmarks: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """(..., 33, C) -> the same points with left and right labels exchanged (no coordinate changes)."""
    return landmarks[..., LANDMARK_MIRROR, :]


def unswap_world(landmarks_world_m: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """(..., 33, 3) hip-centred world landmarks of a swapped reading -> the body as it stands.

    A swapped reading is the person mirrored in depth (on the Sports2D demo the nose moves from 30 cm in front of
    the hips to 6-24 cm behind them) with left and right exchanged, which makes it a proper body facing away: so
    the labels are exchanged back and z negated (about the hips, the world landmarks' origin).
    """
    return relabel(landmarks_world_m) * np.array([1.0, 1.0, -1.0], dtype=landmarks_world_m.dtype)


def swap_gain_px(
    reference_px: npt.NDArray[np.floating], landmarks_px: npt.NDArray[np.floating]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean distance (px) of N people's paired landmarks to their references, as labelled and exchanged.

    Args:
        reference_px: (N, 33, 3) the references (the track's last landmarks), x_px, y_px, visibility.
        landmarks_px: (N, 33, 3) this frame's.

    Returns:
        (kept, exchanged), each (N,): visibility-weighted mean distances over the paired landmarks; NaN where no
        paired landmark is seen in both.
    """
    ref = np.asarray(reference_px, np.float64)[:, PAIRED]  # (N, P, 3)
    now = np.asarray(landmarks_px, np.float64)
    kept, exchanged = now[:, PAIRED], now[:, LANDMARK_MIRROR[PAIRED]]
    weight = np.minimum(ref[..., 2], np.minimum(kept[..., 2], exchanged[..., 2]))  # (N, P)
    weight = np.where(np.isfinite(weight), weight, 0.0)
    total = weight.sum(axis=1)

    def mean_distance(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        distance = np.nan_to_num(np.linalg.norm(points[..., :2] - ref[..., :2], axis=-1))  # (N, P)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (weight * distance).sum(axis=1) / total, np.nan)

    return mean_distance(kept), mean_distance(exchanged)


def swapped(
    reference_px: npt.NDArray[np.floating],
    landmarks_px: npt.NDArray[np.floating],
    height_px: npt.NDArray[np.floating],
    config: SideConfig,
) -> npt.NDArray[np.bool_]:
    """(N,) whether each person's landmarks (N, 33, 3) fit their reference far better with left and right
    exchanged; ``height_px`` (N,) is the size the gain is measured in."""
    kept, exchanged = swap_gain_px(reference_px, landmarks_px)
    with np.errstate(invalid="ignore"):
        return (kept - exchanged > config.min_gain * np.asarray(height_px)) & (exchanged < config.max_ratio * kept)


def align_mirror(direct_px: npt.NDArray[np.floating], mirror: MirrorView, config: SideConfig) -> MirrorView:
    """The mirrored view's people relabelled where their left and right are exchanged against the direct view's
    (N, 33, 3): the two views are averaged downstream, and a body averaged with its half-turned twin is no body."""
    if not config.enabled or not len(mirror):
        return mirror
    height = np.nanmax(direct_px[..., 1], axis=1) - np.nanmin(direct_px[..., 1], axis=1)  # (N,) px
    flip = swapped(direct_px, mirror.landmarks_px, height, config)
    if not flip.any():
        return mirror
    px, world = mirror.landmarks_px.copy(), mirror.landmarks_world_m.copy()
    px[flip], world[flip] = relabel(px[flip]), unswap_world(world[flip])
    return MirrorView(px, world)


class SideKeeper:
    """One verb: ``keep(tracks, frame_gap) -> tracks`` with each matched row's left and right as the track had them."""

    def __init__(self, config: SideConfig | None = None) -> None:
        self.config = config or SideConfig()
        self._reference: dict[int, npt.NDArray[np.float32]] = {}  # track id -> its last landmarks (33, 3)
        self._unseen: dict[int, int] = {}  # track id -> frames since it was last matched
        self._credit: dict[int, int] = {}  # track id -> frames the detector agreed with it, less those relabelled

    def keep(self, tracks: Tracks, frame_gap: int = 1) -> Tracks:
        """Relabel the matched rows (``detection_index >= 0``) whose left and right the detector exchanged."""
        self._unseen = {t: n + frame_gap for t, n in self._unseen.items() if n + frame_gap <= self.config.max_gap}
        for track_id in [t for t in self._reference if t not in self._unseen]:  # gone too long: start afresh
            del self._reference[track_id]
            self._credit.pop(track_id, None)
        if not self.config.enabled:
            return tracks
        ids = tracks.track_id.tolist()
        rows = [i for i in np.flatnonzero(tracks.detection_index >= 0) if ids[i] in self._reference]
        flip = np.zeros(len(tracks), bool)
        if rows:
            reference = np.stack([self._reference[ids[i]] for i in rows])
            height = tracks.xyxy_px[rows, 3] - tracks.xyxy_px[rows, 1]
            flip[rows] = swapped(reference, tracks.landmarks_px[rows], height, self.config)
        for i in np.flatnonzero(flip):
            if self._credit.get(ids[i], 0) > 0:
                self._credit[ids[i]] -= 1
            else:  # the track began swapped: follow the detector from now on
                flip[i] = False
        px, world = tracks.landmarks_px.copy(), tracks.landmarks_world_m.copy()
        px[flip], world[flip] = relabel(px[flip]), unswap_world(world[flip])
        for i in np.flatnonzero(tracks.detection_index >= 0):
            self._reference[ids[i]], self._unseen[ids[i]] = px[i], 0
            if not flip[i]:
                self._credit[ids[i]] = min(self._credit.get(ids[i], 0) + 1, self.config.credit)
        return dataclasses.replace(tracks, landmarks_px=px, landmarks_world_m=world) if flip.any() else tracks
