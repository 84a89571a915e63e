"""Settings of the pose detector (a light module: the CLI builds its flags from it without importing MediaPipe)."""

from __future__ import annotations

from dataclasses import dataclass

from mocap.errors import ConfigError


@dataclass(frozen=True)
class DetectConfig:
    """Settings of the pose detector.

    Attributes:
        max_people: most people found per frame (MediaPipe ``num_poses``).
        min_detection_confidence: pose detector score needed to start a person.
        min_presence_confidence: landmarker presence score needed to keep a person.
        min_tracking_confidence: below this MediaPipe re-runs the detector instead of tracking.
        box_margin: boxes grow by this fraction of their width/height on each side.
        max_box_iou: two detections whose boxes overlap more than this (IoU) are one person
            found twice (MediaPipe's VIDEO mode does this now and then); the lower-scoring
            one is dropped. 1.0 keeps every detection.
        mirror_view: also run the detector on the left-right flipped frame and attach what it finds, mapped
            back, as ``Detections.mirror`` (:mod:`mocap.detect.mirror`): a second measurement of every person for
            the mesh stage, for a second detector pass per frame (run beside the first, in a thread).
    """

    max_people: int = 4
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    box_margin: float = 0.1
    max_box_iou: float = 0.7
    mirror_view: bool = False

    def __post_init__(self) -> None:
        if self.max_people < 1:
            raise ConfigError(f"max_people must be at least 1, but got {self.max_people}")
        for name in ("min_detection_confidence", "min_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], but got {value}")
        if self.box_margin < 0:
            raise ConfigError(f"box_margin must be >= 0, but got {self.box_margin}")
        if not 0.0 < self.max_box_iou <= 1.0:
            raise ConfigError(f"max_box_iou must lie in (0, 1], but got {self.max_box_iou}")
