"""npz fields and shapes, and unwritable outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.errors import ConfigError
from mocap.export.motion import export_motion
from mocap.export.track import load_track
from mocap.export.writers import write_bvh_file, write_npz
from tests.export.conftest import FPS, NUM_FRAMES, write_store


def test_npz_fields_reproduce_the_body_in_the_y_up_world(body: AnnyBody, tmp_path: Path) -> None:
    write_store(tmp_path / "run.zarr", body, meshes=False, params=True)
    track = load_track(tmp_path / "run.zarr", 1)
    write_npz(track, tmp_path / "out.npz", body)
    with np.load(tmp_path / "out.npz") as f:
        data = {k: f[k] for k in f.files}
    t = NUM_FRAMES
    shapes = {"pose_rotmat": (t, 104, 3, 3), "pose_axis_angle": (t, 104, 3), "transl_m": (t, 3), "phenotype": (6,),
              "joints_m": (t, 104, 3), "frame_index": (t,), "observed": (t,), "fps": (), "joint_names": (104,),
              "parents": (104,)}  # fmt: skip
    assert {k: v.shape for k, v in data.items()} == shapes
    assert float(data["fps"]) == FPS and data["joint_names"][0] == "root" and data["parents"][0] == -1
    with torch.no_grad():
        phenotype = torch.from_numpy(data["phenotype"])[None].expand(t, -1)
        out = body.forward(torch.from_numpy(data["pose_rotmat"]), phenotype, torch.from_numpy(data["transl_m"]))
    np.testing.assert_allclose(out.joints_m.numpy(), data["joints_m"], atol=1e-5)
    np.testing.assert_allclose(data["joints_m"], export_motion(track.params, body).joints_world_m(), atol=1e-4)
    head, foot = body.joint_index("head"), body.joint_index("foot.L")
    assert (data["joints_m"][:, head, 1] > data["joints_m"][:, foot, 1] + 1.0).all()  # Y up


@pytest.mark.parametrize("bad", ["missing/out.bvh", "dir"])
def test_unwritable_output_says_so(body: AnnyBody, tmp_path: Path, bad: str) -> None:
    (tmp_path / "dir").mkdir()
    write_store(tmp_path / "run.zarr", body, meshes=False, params=True)
    track = load_track(tmp_path / "run.zarr", 1)
    with pytest.raises(ConfigError, match="cannot write"):
        write_bvh_file(export_motion(track.params, body), tmp_path / bad, FPS)
