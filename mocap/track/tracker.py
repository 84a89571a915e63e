"""Multi-person tracker: SORT/ByteTrack-style association on boxes and body landmarks.

Each frame: every track's box Kalman filter predicts; confirmed and lost tracks are matched first
on IoU plus the pose similarity of their landmarks (the pose tells two people apart while their
boxes overlap), then tentative tracks on IoU alone. Confident detections still unmatched are then
compared with the people lost in the last ``reid_frames`` frames by what they wear
(:mod:`mocap.track.appearance`), within the distance they could have walked: a match takes up the
lost person's id (re-identification, when the caller gives the frame's image); the others start
tentative tracks.
Each returned row carries the index of the detection it was matched to, so no caller ever has to
re-match outputs to inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mocap.errors import ConfigError
from mocap.track.appearance import DIM, appearance, appearance_distance
from mocap.track.kalman_box import BoxKalmanFilter
from mocap.track.matching import DEFAULT_KAPPA, assign, box_iou, landmark_similarity
from mocap.types import NUM_LANDMARKS, Detections, Tracks, TrackState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackConfig:
    """How detections become tracks.

    Attributes:
        iou_weight: weight of box IoU against pose similarity in the confirmed-track cost
            ``1 - (iou_weight * iou + (1 - iou_weight) * landmark_similarity)``. Equal weights:
            IoU says where a person is going, the pose who they are while boxes overlap.
        min_iou: a confirmed/lost track and a detection pair up only if the predicted box
            overlaps the detection at least this much: 0.2, ByteTrack's first-stage gate. The
            pose term ignores position, so without this gate a track could jump to anyone
            anywhere standing the same way.
        match_threshold: highest combined cost of a confirmed/lost track-detection pair: 0.8, so
            a combined similarity of at least 0.2 (the same number as ByteTrack's IoU distance).
        tentative_match_threshold: highest ``1 - IoU`` for a tentative track: 0.7, so IoU >= 0.3,
            ByteTrack's threshold for unconfirmed tracks (a new track has no velocity yet).
        min_hits: consecutive matches that confirm a tentative track: 3 frames (0.1 s at 30 fps)
            drop one- and two-frame false positives at little delay.
        max_lost_frames: frames a confirmed track survives unmatched, as LOST, before deletion:
            30 = 1 s at 30 fps (ByteTrack's track buffer), enough to walk behind another person.
        min_score: detections scoring below this may continue a track but never start one
            (ByteTrack's observation: low scores are mostly occluded people already tracked).
        landmark_kappa: landmark tolerance as a fraction of the person's scale
            (see :func:`mocap.track.matching.landmark_similarity`).
        reid_frames: frames a lost person can still be re-identified by appearance: 150 = 5 s at 30 fps
            (0 = never). Past ``max_lost_frames`` such a person is no longer returned as a LOST row.
        reid_max_distance: highest RMS colour difference (RGB in [0, 1], :mod:`mocap.track.appearance`) of a
            re-identification: 0.06. On the bundled crossing, the same shirt and trousers 38 frames apart differ
            by 0.017 and the two people by 0.12-0.18.
        reid_reach: how far a lost person may have moved per frame, in heights of their last box: 0.05 (1.5
            heights a second at 30 fps, a jog), plus half a height.
    """

    iou_weight: float = 0.5
    min_iou: float = 0.2
    match_threshold: float = 0.8
    tentative_match_threshold: float = 0.7
    min_hits: int = 3
    max_lost_frames: int = 30
    min_score: float = 0.5
    landmark_kappa: float = DEFAULT_KAPPA
    reid_frames: int = 150
    reid_max_distance: float = 0.06
    reid_reach: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.iou_weight <= 1.0:
            raise ConfigError(f"TrackConfig.iou_weight must be in [0, 1], but got {self.iou_weight}")
        if not 0.0 <= self.min_iou < 1.0:
            raise ConfigError(f"TrackConfig.min_iou must be in [0, 1), but got {self.min_iou}")
        for name in ("match_threshold", "tentative_match_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"TrackConfig.{name} must be in (0, 1], but got {getattr(self, name)}")
        if self.min_hits < 1 or self.max_lost_frames < 0:
            raise ConfigError(
                f"TrackConfig needs min_hits >= 1 and max_lost_frames >= 0, "
                f"but got min_hits={self.min_hits}, max_lost_frames={self.max_lost_frames}"
            )
        if self.landmark_kappa <= 0:
            raise ConfigError(f"TrackConfig.landmark_kappa must be > 0, but got {self.landmark_kappa}")
        if self.reid_frames < 0 or self.reid_max_distance < 0 or self.reid_reach < 0:
            raise ConfigError(
                "TrackConfig needs reid_frames, reid_max_distance and reid_reach >= 0, but got "
                f"{self.reid_frames}, {self.reid_max_distance}, {self.reid_reach}"
            )


@dataclass
class _Track:
    """One person's mutable tracking state (private to the tracker)."""

    track_id: int
    kalman: BoxKalmanFilter
    state: TrackState
    hits: int  # consecutive updates with a match
    age: int  # frames since birth
    frames_unmatched: int  # frames since the last match
    landmarks_px: npt.NDArray[np.float64]  # (33, 3) landmarks of the last matched detection
    last_xyxy_px: npt.NDArray[np.float64]  # (4,) box of the last matched detection
    appearance: npt.NDArray[np.float64]  # (9,) running mean colours (mocap.track.appearance), NaN: not seen yet


class Tracker:
    """Gives each detected person a stable id across frames.

    Args:
        config: association settings; the defaults suit 25-60 fps video.
        first_track_id: id of the first new track (>= 1): a resumed run passes its next free id.

    Example:
        >>> tracker = Tracker(TrackConfig(min_hits=1))
        >>> tracker.update(Detections.empty()).track_id.tolist()
        []
    """

    def __init__(self, config: TrackConfig | None = None, first_track_id: int = 1) -> None:
        if first_track_id < 1:
            raise ConfigError(f"first_track_id must be >= 1 (ids start at 1), but got {first_track_id}")
        self.config = config or TrackConfig()
        self._first_track_id = first_track_id
        self._next_track_id = first_track_id
        self._tracks: list[_Track] = []
        self._gone: list[_Track] = []  # lost past max_lost_frames, kept for re-identification until reid_frames

    @property
    def next_track_id(self) -> int:
        """The id the next new track will get: store it to resume numbering later."""
        return self._next_track_id

    def reset(self) -> None:
        """Forget every track and restart numbering at ``first_track_id`` (call between videos)."""
        self._tracks, self._gone = [], []
        self._next_track_id = self._first_track_id

    def restore(
        self,
        track_id: int,
        xyxy_px: npt.NDArray[np.floating],
        landmarks_px: npt.NDArray[np.floating],
        frames_unmatched: int = 0,
    ) -> None:
        """Take up a confirmed track that an earlier run left: its id, last box (4,) and landmarks (33, 3), and
        the frames since it was last matched (a resumed run restores the tracks its store ended with, so a
        person keeps their id across the interruption). The box's velocity starts at zero."""
        if any(t.track_id == track_id for t in self._tracks):
            raise ValueError(f"track {track_id} is live already: restore each track once, before the first update")
        lost = frames_unmatched > 0
        self._tracks.append(
            _Track(
                track_id=track_id,
                kalman=BoxKalmanFilter(np.asarray(xyxy_px, np.float64)),
                state=TrackState.LOST if lost else TrackState.CONFIRMED,
                hits=0 if lost else self.config.min_hits,
                age=frames_unmatched,
                frames_unmatched=frames_unmatched,
                landmarks_px=np.asarray(landmarks_px, np.float64),
                last_xyxy_px=np.asarray(xyxy_px, np.float64),
                appearance=np.full(DIM, np.nan),
            )
        )
        self._next_track_id = max(self._next_track_id, track_id + 1)

    def update(
        self, detections: Detections, frame_gap: int = 1, image_rgb: npt.NDArray[np.uint8] | None = None
    ) -> Tracks:
        """Associate one frame's detections with the tracks.

        Args:
            detections: this frame's people (never modified).
            frame_gap: frames since the previous call: 1 normally, more when a live source
                dropped frames; the Kalman filters predict that many steps.
            image_rgb: the frame (H, W, 3) uint8, for what the people wear; without it nobody is
                re-identified (a lost person who comes back after ``max_lost_frames`` gets a new id).

        Returns:
            every live track sorted by id: tentative and confirmed ones matched this frame
            (``detection_index`` >= 0) and LOST ones (predicted box, score 0, NaN landmarks,
            ``detection_index`` -1).
        """
        if frame_gap < 1:
            raise ValueError(f"frame_gap must be >= 1 (frames since the previous update), but got {frame_gap}")
        self._predict(frame_gap)
        # Colours are read only when someone may be re-identified with them (reid_frames 0: never, not even a
        # person lost for less than max_lost_frames whose box the motion no longer finds).
        looks = None
        if image_rgb is not None and self.config.reid_frames > 0:
            looks = _unoccluded(detections, appearance(image_rgb, detections.landmarks_px))
        detection_index = {track.track_id: d for track, d in self._associate(detections)}
        for track in self._tracks:
            if track.track_id in detection_index:
                self._on_match(track, detections, detection_index[track.track_id], looks)
        self._on_miss([track for track in self._tracks if track.track_id not in detection_index])
        unmatched = np.setdiff1d(np.arange(len(detections)), np.array(list(detection_index.values()), np.int64))
        unmatched = unmatched[detections.score[unmatched] >= self.config.min_score]
        if looks is not None:
            # A newcomer may be someone lost: first seen next to another person (no colours then), they step clear
            # within the frames a new track needs to be confirmed. A track that young was never returned as
            # CONFIRMED before this frame, so it can give way to the old id unseen: it is dropped.
            newcomers = {
                detection_index[t.track_id]: t.track_id
                for t in self._tracks
                if t.age < self.config.min_hits and t.track_id in detection_index
            }
            candidates = np.union1d(unmatched, np.array(list(newcomers), np.int64))
            for track, d in self._reidentify(detections, candidates, looks) if len(candidates) else []:
                if d in newcomers:
                    del detection_index[newcomers[d]]
                    self._tracks = [t for t in self._tracks if t.track_id != newcomers[d]]
                self._on_found(track, detections, d, looks)
                detection_index[track.track_id] = d
        for d in np.setdiff1d(unmatched, np.array(list(detection_index.values()), np.int64)):
            detection_index[self._start_track(detections, int(d), looks)] = int(d)
        return self._rows(detections, detection_index)

    # --- steps of update, in order ---------------------------------------------------------

    def _predict(self, frame_gap: int) -> None:
        for track in self._tracks:
            track.kalman.predict(frame_gap)
            track.age += frame_gap
            track.frames_unmatched += frame_gap
        for track in self._gone:
            track.frames_unmatched += frame_gap
        self._gone = [t for t in self._gone if t.frames_unmatched <= self.config.reid_frames]

    def _associate(self, detections: Detections) -> list[tuple[_Track, int]]:
        """(track, detection row) pairs: confirmed and lost tracks first, then tentative ones."""
        cfg = self.config
        established = [t for t in self._tracks if t.state != TrackState.TENTATIVE]
        tentative = [t for t in self._tracks if t.state == TrackState.TENTATIVE]

        iou = box_iou(_boxes_xyxy_px(established), detections.xyxy_px)  # (T, D)
        pose = landmark_similarity(_landmarks_px(established), detections.landmarks_px, cfg.landmark_kappa)
        cost = 1.0 - (cfg.iou_weight * iou + (1 - cfg.iou_weight) * pose)
        matches, _, free = assign(np.where(iou >= cfg.min_iou, cost, np.inf), cfg.match_threshold)
        pairs = [(established[r], int(c)) for r, c in matches]

        # Tentative tracks have had too few frames for their landmarks or velocity to be trusted.
        iou = box_iou(_boxes_xyxy_px(tentative), detections.xyxy_px[free])  # (T', D')
        matches, _, _ = assign(1.0 - iou, cfg.tentative_match_threshold)
        return pairs + [(tentative[r], int(free[c])) for r, c in matches]

    def _reidentify(
        self, detections: Detections, rows: npt.NDArray[np.int64], looks: npt.NDArray[np.float64]
    ) -> list[tuple[_Track, int]]:
        """(lost track, detection row) pairs among the unmatched confident ``rows``: the closest appearance within
        ``reid_max_distance``, each detection within the distance its lost person could have walked."""
        cfg = self.config
        lost = [t for t in self._tracks if t.state == TrackState.LOST] + self._gone
        if not lost:
            return []
        cost = appearance_distance(np.array([t.appearance for t in lost]), looks[rows])  # (L, D)
        last = np.array([t.last_xyxy_px for t in lost])  # (L, 4)
        boxes = detections.xyxy_px[rows].astype(np.float64)  # (D, 4)
        height = (last[:, 3] - last[:, 1])[:, None]  # (L, 1)
        walked = np.linalg.norm(_centres(last)[:, None] - _centres(boxes)[None], axis=-1)  # (L, D) pixels
        reach = (cfg.reid_reach * np.array([t.frames_unmatched for t in lost])[:, None] + 0.5) * height
        ratio = (boxes[:, 3] - boxes[:, 1])[None] / np.maximum(height, 1.0)  # a person seen at another depth
        plausible = (walked <= reach) & (ratio > 2 / 3) & (ratio < 3 / 2)
        matches, _, _ = assign(np.where(plausible, cost, np.inf), cfg.reid_max_distance)
        return [(lost[r], int(rows[c])) for r, c in matches]

    def _on_found(self, track: _Track, detections: Detections, d: int, looks: npt.NDArray[np.float64]) -> None:
        """A re-identified person: confirmed at once, the box filter restarted at the detection (no velocity)."""
        if any(t is track for t in self._gone):
            self._gone = [t for t in self._gone if t is not track]
            self._tracks.append(track)
        track.kalman = BoxKalmanFilter(detections.xyxy_px[d].astype(np.float64))
        track.hits = self.config.min_hits - 1
        self._on_match(track, detections, d, looks, update_filter=False)
        logger.debug("track %d re-identified", track.track_id)

    def _on_match(
        self,
        track: _Track,
        detections: Detections,
        d: int,
        looks: npt.NDArray[np.float64] | None,
        update_filter: bool = True,
    ) -> None:
        box = detections.xyxy_px[d].astype(np.float64)
        if update_filter:
            track.kalman.update(box)
        track.landmarks_px = detections.landmarks_px[d].astype(np.float64)
        track.last_xyxy_px = box
        if looks is not None:
            track.appearance = _running_mean(track.appearance, looks[d])
        track.hits += 1
        track.frames_unmatched = 0
        if track.state == TrackState.LOST or track.hits >= self.config.min_hits:
            track.state = TrackState.CONFIRMED

    def _on_miss(self, missed: list[_Track]) -> None:
        """Tentative tracks that miss are dropped (most likely false positives); confirmed ones
        become LOST, and LOST ones unmatched for over ``max_lost_frames`` frames are dropped. As in
        ByteTrack, this runs after association, so a person may be away for exactly
        ``max_lost_frames`` frames and still get their id back."""
        for track in missed:
            track.hits = 0
            if track.state != TrackState.TENTATIVE:
                track.state = TrackState.LOST
        dropped = {
            t.track_id
            for t in missed
            if t.state == TrackState.TENTATIVE or t.frames_unmatched > self.config.max_lost_frames
        }
        if dropped:
            logger.debug("tracks %s dropped", sorted(dropped))
        # Confirmed people who were seen well enough to describe wait for re-identification.
        self._gone += [
            t
            for t in self._tracks
            if t.track_id in dropped and t.state == TrackState.LOST and np.isfinite(t.appearance).any()
        ]
        self._tracks = [t for t in self._tracks if t.track_id not in dropped]

    def _start_track(self, detections: Detections, d: int, looks: npt.NDArray[np.float64] | None = None) -> int:
        box = detections.xyxy_px[d].astype(np.float64)
        track = _Track(
            track_id=self._next_track_id,
            kalman=BoxKalmanFilter(box),
            state=TrackState.CONFIRMED if self.config.min_hits <= 1 else TrackState.TENTATIVE,
            hits=1,
            age=0,
            frames_unmatched=0,
            landmarks_px=detections.landmarks_px[d].astype(np.float64),
            last_xyxy_px=box,
            appearance=np.full(DIM, np.nan) if looks is None else looks[d].astype(np.float64),
        )
        self._tracks.append(track)
        self._next_track_id += 1
        return track.track_id

    def _rows(self, detections: Detections, detection_index: dict[int, int]) -> Tracks:
        """One row per live track, by id: matched rows copy their detection, LOST rows get the prediction."""
        tracks = sorted(self._tracks, key=lambda t: t.track_id)
        index = np.array([detection_index.get(t.track_id, -1) for t in tracks], np.int64)
        seen, rows = index >= 0, index[index >= 0]
        xyxy_px = _boxes_xyxy_px(tracks).astype(np.float32)
        xyxy_px[seen] = detections.xyxy_px[rows]
        score = np.zeros(len(tracks), np.float32)
        score[seen] = detections.score[rows]
        landmarks_px = np.full((len(tracks), NUM_LANDMARKS, 3), np.nan, np.float32)
        landmarks_px[seen] = detections.landmarks_px[rows]
        landmarks_world_m = np.full((len(tracks), NUM_LANDMARKS, 3), np.nan, np.float32)
        landmarks_world_m[seen] = detections.landmarks_world_m[rows]
        return Tracks(
            track_id=np.array([t.track_id for t in tracks], np.int64),
            state=np.array([t.state for t in tracks], np.int8),
            age=np.array([t.age for t in tracks], np.int32),
            detection_index=index,
            xyxy_px=xyxy_px,
            score=score,
            landmarks_px=landmarks_px,
            landmarks_world_m=landmarks_world_m,
        )


def _unoccluded(detections: Detections, looks: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The detections' descriptors (N, 9), NaN for people whose box overlaps another's: their pixels may be the
    other person's clothes, and a descriptor is a person's only memory while they are away."""
    iou = box_iou(detections.xyxy_px, detections.xyxy_px)
    np.fill_diagonal(iou, 0.0)
    crowded = np.asarray((iou > 0.05).any(axis=1), bool).reshape(-1, 1)  # (N, 1)
    return np.where(crowded, np.nan, looks.astype(np.float64))


def _running_mean(mean: npt.NDArray[np.float64], new: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A descriptor's running mean (weight 0.2 on the new one) where both are known, else whichever is."""
    return np.where(np.isnan(mean), new, np.where(np.isnan(new), mean, 0.8 * mean + 0.2 * new))


def _centres(xyxy_px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(N, 4) boxes -> (N, 2) centres, pixels."""
    return (xyxy_px[:, :2] + xyxy_px[:, 2:]) / 2


def _boxes_xyxy_px(tracks: list[_Track]) -> npt.NDArray[np.float64]:
    """(T, 4) the tracks' current Kalman boxes."""
    return np.array([t.kalman.xyxy_px for t in tracks], np.float64).reshape(-1, 4)


def _landmarks_px(tracks: list[_Track]) -> npt.NDArray[np.float64]:
    """(T, 33, 3) each track's last matched landmarks."""
    return np.array([t.landmarks_px for t in tracks], np.float64).reshape(-1, NUM_LANDMARKS, 3)
