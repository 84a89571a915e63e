"""Reading a track from a store: stored parameters or fitted meshes, gaps interpolated, typed errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.base import BodyParams
from mocap.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from mocap.errors import StoreError
from mocap.export.track import interpolate_gaps, load_track
from tests.export.conftest import FPS, GAP, NUM_FRAMES, write_store


def test_interpolate_gaps_by_hand() -> None:
    frames = np.array([10, 13])
    pose = axis_angle_to_matrix(torch.tensor([[[0.0, 0.0, 0.0]], [[0.0, 0.0, math.pi / 2]]]))  # (2, 1, 3, 3)
    transl = torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 6.0]])
    full, pose_full, transl_full = interpolate_gaps(frames, pose, transl)
    np.testing.assert_array_equal(full, [10, 11, 12, 13])
    torch.testing.assert_close(transl_full[:, 0], torch.tensor([0.0, 1.0, 2.0, 3.0]))
    angles = matrix_to_axis_angle(pose_full)[:, 0, 2]
    # nlerp of quaternions: the ends exact, the middle monotonic and symmetric about pi/4
    torch.testing.assert_close(angles[[0, 3]], torch.tensor([0.0, math.pi / 2]), atol=1e-5, rtol=0)
    assert 0 < angles[1] < angles[2] < math.pi / 2
    assert angles[1] + angles[2] == pytest.approx(math.pi / 2, abs=1e-5)


def test_interpolate_single_frame() -> None:
    full, pose, transl = interpolate_gaps(np.array([7]), torch.eye(3).expand(1, 2, 3, 3), torch.ones(1, 3))
    assert full.tolist() == [7] and pose.shape == (1, 2, 3, 3) and transl.tolist() == [[1.0, 1.0, 1.0]]


def test_stored_parameters_are_used_and_gaps_filled(body: AnnyBody, tmp_path: Path) -> None:
    truth = write_store(tmp_path / "run.zarr", body, meshes=False, params=True)
    track = load_track(tmp_path / "run.zarr", 1)
    np.testing.assert_array_equal(track.frame_index, np.arange(NUM_FRAMES))
    assert track.fps == FPS and track.observed.tolist() == [i not in GAP for i in range(NUM_FRAMES)]
    seen = track.observed
    torch.testing.assert_close(track.params.pose_rotmat[seen], truth.pose_rotmat[seen], atol=1e-5, rtol=0)
    torch.testing.assert_close(track.params.transl_m, truth.transl_m, atol=1e-5, rtol=0)  # linear path: exact
    torch.testing.assert_close(track.params.phenotype, truth.phenotype)


def test_meshes_are_fitted(body: AnnyBody, tmp_path: Path) -> None:
    truth = write_store(tmp_path / "run.zarr", body)
    init = BodyParams(truth.pose_rotmat[:1], truth.transl_m[:1], truth.phenotype)  # phenotype fit: tests/body
    track = load_track(tmp_path / "run.zarr", 1, smoothed=True, body=body, init=init)  # no smoothed field: raw
    with torch.no_grad():
        phen = track.params.phenotype.expand(NUM_FRAMES, -1)
        fitted = body.forward(track.params.pose_rotmat, phen, track.params.transl_m).joints_m
        expected = body.forward(truth.pose_rotmat, truth.phenotype.expand(NUM_FRAMES, -1), truth.transl_m).joints_m
    error_mm = (fitted - expected).norm(dim=-1).mean(1) * 1000
    assert error_mm[track.observed].max() < 20, error_mm
    assert error_mm.max() < 30, error_mm  # interpolated frames of a smooth motion stay close too


def test_smoothed_meshes_are_preferred_when_asked(body: AnnyBody, tmp_path: Path) -> None:
    truth = write_store(tmp_path / "run.zarr", body, smoothed=True)
    init = BodyParams(truth.pose_rotmat[:1], truth.transl_m[:1], truth.phenotype)
    track = load_track(tmp_path / "run.zarr", 1, smoothed=True, body=body, init=init)
    error_mm = (track.params.transl_m - truth.transl_m).norm(dim=-1) * 1000
    assert error_mm[track.observed].max() < 30, error_mm  # the raw meshes carry 10 cm noise


def test_unknown_track_lists_the_ids(body: AnnyBody, tmp_path: Path) -> None:
    write_store(tmp_path / "run.zarr", body, meshes=False, params=True)
    with pytest.raises(StoreError, match=r"no track 7; its tracks are \[1, 2\]"):
        load_track(tmp_path / "run.zarr", 7)


def test_store_without_meshes_says_to_run_with_the_mesh_model(body: AnnyBody, tmp_path: Path) -> None:
    write_store(tmp_path / "run.zarr", body, meshes=False)
    with pytest.raises(StoreError, match="run `mocap run` with the mesh model"):
        load_track(tmp_path / "run.zarr", 1)
