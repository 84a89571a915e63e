"""Build MediaPipe's pose landmarker ``.task`` bundle offline from the model files mediapipe ships.

mediapipe 0.10.14 ships ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` for the
legacy single-person API. The multi-person Tasks API (``PoseLandmarker``) wants a ``.task``
zip holding the same two networks with TFLite metadata that declares how to normalise the
input image; without it MediaPipe fails with "Input tensor has type float32: it requires
specifying NormalizationOptions". We add that metadata and zip the two files, once, into a
cache directory. Nothing is downloaded.

Example:
    >>> from mocap.detect.task_bundle import pose_landmarker_bundle
    >>> path = pose_landmarker_bundle()
    >>> path.suffix
    '.task'
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mocap.errors import ModelNotFoundError

log = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.14"
_INSTALL_FIX = f"pip install --no-deps mediapipe=={MEDIAPIPE_VERSION}"


@dataclass(frozen=True)
class _Member:
    """One network of the bundle: where mediapipe ships it and how its image input is normalised."""

    name_in_bundle: str
    path_in_package: str
    norm_mean: float
    norm_std: float
    num_outputs: int


# The detector expects pixels in [-1, 1], the landmarker in [0, 1] (mediapipe's graph configs).
# Output counts: detector = boxes + scores; landmarker = landmarks, presence, segmentation,
# heatmap, world landmarks.
_MEMBERS = (
    _Member("pose_detector.tflite", "modules/pose_detection/pose_detection.tflite", 127.5, 127.5, 2),
    _Member("pose_landmarks_detector.tflite", "modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0, 5),
)


def cache_dir() -> Path:
    """The mocap cache directory: ``$MOCAP_CACHE_DIR``, else ``~/.cache/mocap`` (read at call time)."""
    env = os.environ.get("MOCAP_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mocap"


def pose_landmarker_bundle(directory: Path | None = None) -> Path:
    """Return the path of the pose landmarker ``.task`` bundle, building it if missing or corrupt.

    Args:
        directory: where to keep the bundle; defaults to :func:`cache_dir`.

    Returns:
        Path to ``pose_landmarker_full.task`` (~9.4 MB).

    Raises:
        ModelNotFoundError: mediapipe or one of its shipped model files is absent.
    """
    path = (directory if directory is not None else cache_dir()) / f"pose_landmarker_full-mp{MEDIAPIPE_VERSION}.task"
    if is_valid_bundle(path):
        return path
    if path.exists():
        log.warning("rebuilding corrupt pose landmarker bundle %s", path)
    log.info("building pose landmarker bundle %s from mediapipe's model files", path)
    members = {m.name_in_bundle: _with_metadata(m) for m in _MEMBERS}
    _write_zip_atomically(path, members)
    return path


def is_valid_bundle(path: Path) -> bool:
    """True if ``path`` is a readable zip holding both networks with intact checksums."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            return names == {m.name_in_bundle for m in _MEMBERS} and zf.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def _mediapipe_root() -> Path:
    try:
        import mediapipe
    except ImportError as e:
        raise ModelNotFoundError(f"mediapipe is not installed; install it with `{_INSTALL_FIX}`") from e
    return Path(mediapipe.__file__).parent


def _with_metadata(member: _Member) -> bytes:
    """The member's shipped ``.tflite`` with image-normalisation metadata added."""
    source = _mediapipe_root() / member.path_in_package
    if not source.is_file():
        raise ModelNotFoundError(
            f"mediapipe's model file {source} is missing (only mediapipe {MEDIAPIPE_VERSION} ships it); "
            f"reinstall with `{_INSTALL_FIX}`"
        )
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(source.read_bytes()))
    writer.add_general_info(member.name_in_bundle.removesuffix(".tflite"))
    writer.add_image_input(norm_mean=[member.norm_mean], norm_std=[member.norm_std])
    for _ in range(member.num_outputs):
        writer.add_feature_output()
    model, _metadata_json = writer.populate()
    return bytes(model)


def _write_zip_atomically(path: Path, members: dict[str, bytes]) -> None:
    """Write the zip to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                # a fixed date keeps the bundle byte-identical from build to build
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
