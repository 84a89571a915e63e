from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mocap.detect import task_bundle
from mocap.detect.task_bundle import cache_dir, is_valid_bundle, pose_landmarker_bundle
from mocap.errors import ModelNotFoundError

MEMBERS = {"pose_detector.tflite", "pose_landmarks_detector.tflite"}


def _metadata(model: bytes) -> dict[str, Any]:
    from mediapipe.tasks.python.metadata import metadata

    return json.loads(metadata.MetadataDisplayer.with_model_buffer(model).get_metadata_json())


@pytest.mark.parametrize(
    ("member", "mean", "std", "num_outputs"),
    [("pose_detector.tflite", 127.5, 127.5, 2), ("pose_landmarks_detector.tflite", 0.0, 255.0, 5)],
)
def test_bundle_members_declare_their_input_normalisation(
    bundle_path: Path, member: str, mean: float, std: float, num_outputs: int
) -> None:
    assert bundle_path.suffix == ".task" and is_valid_bundle(bundle_path)
    with zipfile.ZipFile(bundle_path) as zf:
        assert set(zf.namelist()) == MEMBERS
        subgraph = _metadata(zf.read(member))["subgraph_metadata"][0]
    (unit,) = subgraph["input_tensor_metadata"][0]["process_units"]
    assert unit == {"options_type": "NormalizationOptions", "options": {"mean": [mean], "std": [std]}}
    assert len(subgraph["output_tensor_metadata"]) == num_outputs
    assert not list(bundle_path.parent.glob("*.tmp")), "no temporary file is left behind"


def test_a_valid_bundle_is_reused(bundle_path: Path) -> None:
    mtime = bundle_path.stat().st_mtime_ns
    assert pose_landmarker_bundle(bundle_path.parent) == bundle_path
    assert bundle_path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 not really a zip"])
def test_a_corrupt_bundle_is_rebuilt(tmp_path: Path, bundle_path: Path, damage: bytes) -> None:
    broken = tmp_path / bundle_path.name
    broken.write_bytes(damage)
    assert not is_valid_bundle(broken)
    assert pose_landmarker_bundle(tmp_path) == broken
    assert is_valid_bundle(broken) and broken.read_bytes() == bundle_path.read_bytes()


def test_a_bundle_with_a_damaged_member_is_invalid(tmp_path: Path, bundle_path: Path) -> None:
    data = bytearray(bundle_path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored (uncompressed) networks: the CRC no longer matches
    damaged = tmp_path / "damaged.task"
    damaged.write_bytes(bytes(data))
    assert not is_valid_bundle(damaged)


def test_cache_dir_is_read_when_called(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOCAP_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MOCAP_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "mocap"


def test_missing_mediapipe_model_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # an install without the model files (any mediapipe but 0.10.14) looks like this empty package
    monkeypatch.setattr(task_bundle, "_mediapipe_root", lambda: tmp_path / "mediapipe")
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps mediapipe==0\.10\.14"):
        pose_landmarker_bundle(tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
