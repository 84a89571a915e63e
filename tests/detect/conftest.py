from __future__ import annotations

from pathlib import Path

import pytest

from mocap.detect.task_bundle import pose_landmarker_bundle


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pose landmarker bundle, built once per test session in a temporary cache (never the user's)."""
    return pose_landmarker_bundle(tmp_path_factory.mktemp("mocap-cache"))
