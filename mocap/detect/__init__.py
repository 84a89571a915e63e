"""Body landmarks per person: MediaPipe's pose landmarker (BlazePose full) through the Tasks API.

The ``.task`` bundle it needs is built offline from the model files inside mediapipe 0.10.14
(:mod:`mocap.detect.task_bundle`); mediapipe itself is imported only when a detector is made.
The detector loads on first use of its name, so importing the config stays cheap.
"""

from __future__ import annotations

from typing import Any

from mocap.detect.config import DetectConfig

__all__ = ["DetectConfig", "PoseDetector", "pose_landmarker_bundle"]


def __getattr__(name: str) -> Any:
    if name == "PoseDetector":
        from mocap.detect.pose import PoseDetector

        return PoseDetector
    if name == "pose_landmarker_bundle":
        from mocap.detect.task_bundle import pose_landmarker_bundle

        return pose_landmarker_bundle
    raise AttributeError(f"module 'mocap.detect' has no attribute {name!r}")
