from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.motion.asf_amc import read_amc, read_asf

ASF = """# hand-made 3-bone skeleton
:version 1.10
:name test
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name a
     direction 0 1 0
     length 10
     axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
     id 2
     name b
     direction 1 0 0
     length 5
     axis 0 0 90 XYZ
    dof rx
  end
  begin
     id 3
     name c
     direction 0 -1 0
     length 4
     axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root a c
    a b
  end
"""

AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
a 0 0 0
b 0
2
root 1 2 3 0 90 0
a 0 0 90
b 90
"""


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "t.asf").write_text(ASF)
    (tmp_path / "t_01.amc").write_text(AMC)
    return tmp_path / "t.asf", tmp_path / "t_01.amc"


def test_skeleton(files: tuple[Path, Path]) -> None:
    asf = read_asf(files[0])
    skeleton = asf.skeleton
    assert skeleton.names == ("root", "a", "b", "c") and skeleton.parents.tolist() == [-1, 0, 1, 0]
    assert np.allclose(skeleton.offsets[2], [0, 10, 0])  # b starts where a ends
    assert np.allclose(skeleton.end_offsets[2], [5, 0, 0]) and np.allclose(skeleton.end_offsets[3], [0, -4, 0])
    assert asf.dofs[2] == ("rx",) and asf.dofs[3] == ()
    assert asf.unit_m == pytest.approx(0.0254 / 0.45)


def test_motion_matches_hand_computed_positions(files: tuple[Path, Path]) -> None:
    asf = read_asf(files[0])
    motion = read_amc(files[1], asf)
    u = asf.unit_m
    assert len(motion) == 2 and motion.fps == 120.0
    positions = motion.joint_positions_m()
    assert np.allclose(positions[0] / u, [[0, 0, 0], [0, 0, 0], [0, 10, 0], [0, 0, 0]])
    # Frame 2: root turned 90 degrees about y (x -> -z), a turned 90 degrees about z (y -> -x):
    # b starts at Ry(90) Rz(90) (0, 10, 0) = (0, 0, 10) from the root at (1, 2, 3).
    assert np.allclose(positions[1, 2] / u, [1, 2, 13], atol=1e-9)
    # b's rx dof acts about its axis Rz(90) x = y: its end (5, 0, 0) turns to (0, 0, -5), then the
    # parents' rotations carry it to (-5, 0, 0).
    world = motion.world_rotations()
    b_end = positions[1, 2] / u + world[1, 2] @ asf.skeleton.end_offsets[2]
    assert np.allclose(b_end, [-4, 2, 13], atol=1e-9)
    assert np.allclose(world[1, 3], world[1, 0])  # c has no dof: it turns with the root


def test_wrong_value_count_raises(files: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.amc"
    bad.write_text(AMC.replace("b 90", "b 90 10"))
    with pytest.raises(SourceError, match="ASF says"):
        read_amc(bad, read_asf(files[0]))


SHARED_ASF = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mocap" / "cmu_asf_amc" / "01"


@pytest.mark.skipif(not SHARED_ASF.is_dir(), reason="needs ../shared/data/mocap")
def test_reads_cmu_subject() -> None:
    asf = read_asf(SHARED_ASF / "01.asf")
    motion = read_amc(SHARED_ASF / "01_09.amc", asf)
    assert len(asf.skeleton) == 31 and len(motion) > 100
    height = np.ptp(motion.joint_positions_m()[0, :, 1])  # y-up
    assert 1.2 < height < 1.9
