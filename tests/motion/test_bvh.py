from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.motion.bvh import read_bvh, write_bvh
from mocap.motion.skeleton import Motion, guess_unit_m

SMALL_BVH = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 0.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Chest
\t{
\t\tOFFSET 0.0 10.0 0.0
\t\tCHANNELS 3 Xrotation Yrotation Zrotation
\t\tJOINT Head
\t\t{
\t\t\tOFFSET 0.0 5.0 0.0
\t\t\tCHANNELS 3 Yrotation Xrotation Zrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.0 3.0 0.0
\t\t\t}
\t\t}
\t}
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0 0 0 0
1 90 2 90 0 0 0 0 0 0 0 30
"""


@pytest.fixture()
def small_bvh(tmp_path: Path) -> Path:
    path = tmp_path / "small.bvh"
    path.write_text(SMALL_BVH)
    return path


def test_reads_hierarchy_channels_and_frames(small_bvh: Path) -> None:
    motion = read_bvh(small_bvh, unit_m=0.01)
    skeleton = motion.skeleton
    assert skeleton.names == ("Hips", "Chest", "Head") and skeleton.parents.tolist() == [-1, 0, 1]
    assert skeleton.channels[2] == ("Yrotation", "Xrotation", "Zrotation")
    assert np.allclose(skeleton.end_offsets[2], [0, 3, 0]) and np.isnan(skeleton.end_offsets[0]).all()
    assert len(motion) == 2 and motion.fps == pytest.approx(30.0, rel=1e-5)
    assert np.allclose(motion.root_translation_m[1], [0.01, 0.9, 0.02])


def test_rotations_move_children(small_bvh: Path) -> None:
    positions = read_bvh(small_bvh, unit_m=0.01).joint_positions_m()
    assert np.allclose(positions[0], [[0, 0.9, 0], [0, 1.0, 0], [0, 1.05, 0]])
    # Frame 1: the root turns 90 degrees about z, so the spine (+y) points to -x.
    assert np.allclose(positions[1, 1], [0.01 - 0.10, 0.9, 0.02], atol=1e-9)
    assert np.allclose(positions[1, 2], [0.01 - 0.15, 0.9, 0.02], atol=1e-9)


def test_round_trip(tmp_path: Path, small_bvh: Path, motion: Motion) -> None:
    for original in (read_bvh(small_bvh), motion):
        write_bvh(original, tmp_path / "copy.bvh")
        copy = read_bvh(tmp_path / "copy.bvh", unit_m=original.unit_m)
        assert copy.skeleton.names == original.skeleton.names
        assert copy.skeleton.channels[1:] == original.skeleton.channels[1:]
        assert np.allclose(copy.skeleton.offsets, original.skeleton.offsets)
        assert np.allclose(copy.rotations, original.rotations, atol=1e-6)
        assert np.allclose(copy.root_translation_m, original.root_translation_m, atol=1e-6)
        assert copy.fps == pytest.approx(original.fps, rel=1e-6)


def test_reads_gzip(tmp_path: Path, small_bvh: Path) -> None:
    packed = tmp_path / "small.bvh.gz"
    packed.write_bytes(gzip.compress(small_bvh.read_bytes()))
    assert np.array_equal(read_bvh(packed).rotations, read_bvh(small_bvh).rotations)


@pytest.mark.parametrize(
    "text",
    [
        "not a bvh",
        SMALL_BVH.replace("Frames: 2", "Frames: 3"),
        SMALL_BVH.replace("OFFSET 0.0 5.0 0.0", "OFFSET 0.0 5.0"),
    ],
)
def test_broken_files_raise(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.bvh"
    path.write_text(text)
    with pytest.raises(SourceError):
        read_bvh(path)


def test_unit_guess(motion: Motion) -> None:
    skeleton = motion.skeleton  # about 1.6 m tall in cm
    assert guess_unit_m(skeleton) == 0.01
    inches = type(skeleton)(
        skeleton.names, skeleton.parents, skeleton.offsets / 2.54, skeleton.channels, skeleton.end_offsets / 2.54
    )
    assert guess_unit_m(inches) == pytest.approx(0.0254)


def test_resample_halves_frames(motion: Motion) -> None:
    half = motion.resample(30.0)
    assert half.fps == 30.0 and len(half) == 30
    assert np.allclose(half.rotations, motion.rotations[::2], atol=1e-9)  # exact source frames
    assert np.allclose(half.root_translation_m, motion.root_translation_m[::2])
