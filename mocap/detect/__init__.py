"""Body landmarks per person: MediaPipe's pose landmarker (BlazePose full) through the Tasks API.

The ``.task`` bundle it needs is built offline from the model files inside mediapipe 0.10.14
(:mod:`mocap.detect.task_bundle`); mediapipe itself is imported only when a detector is made.
"""

from __future__ import annotations

from mocap.detect.pose import DetectConfig, PoseDetector
from mocap.detect.task_bundle import pose_landmarker_bundle

__all__ = ["DetectConfig", "PoseDetector", "pose_landmarker_bundle"]
