"""Multi-person tracking: ``Tracker(TrackConfig()).update(detections) -> Tracks``."""

from mocap.track.tracker import TrackConfig, Tracker

__all__ = ["TrackConfig", "Tracker"]
