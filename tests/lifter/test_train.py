"""Training the joint lifter: targets, a short run that learns, and an exact resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.rotations import axis_angle_to_matrix, matrix_to_rotation_6d
from mocap.body.symmetry import mirror_landmarks
from mocap.errors import ConfigError
from mocap.lifter.model import LifterConfig, join_lifters, load_lifter, save_lifter
from mocap.lifter.train import LifterRecipe, lifter_examples, rendered_lifter_examples, train_lifter
from mocap.mega.rendered import RenderedExamples


def posed_shard(count: int, seed: int = 0) -> RenderedExamples:
    """Examples whose world landmarks are the turned body itself: the joints are learnable from the input."""
    generator = torch.Generator().manual_seed(seed)
    keypoints = torch.randn(count, 33, 3, generator=generator) * 0.3
    rotation = axis_angle_to_matrix(torch.randn(count, 3, generator=generator) * 0.3)
    turned = keypoints @ rotation.transpose(1, 2)
    turned = turned - turned[:, [23, 24]].mean(1, keepdim=True)
    cond = torch.cat([turned[..., :2], torch.ones(count, 33, 1), turned], -1)
    return RenderedExamples(
        cond=cond.numpy(),
        ids=np.zeros((count, 54), np.int64),
        rotation_6d=matrix_to_rotation_6d(rotation).numpy(),
        keypoints_canonical_m=keypoints.numpy(),
        keypoints_crop=np.ones((count, 33, 3), np.float32),
    )


def test_targets_are_the_hip_centred_camera_joints_and_their_mirror_image() -> None:
    shard = posed_shard(5)
    made = rendered_lifter_examples(shard)
    assert made.features.shape == (10, 33, 6) and made.joints_m.shape == (10, 12, 3)
    world = shard.cond[..., 3:]  # the turned body, hip-centred
    np.testing.assert_allclose(made.joints_m[:5].numpy(), world[:, list(BODY_JOINTS)], atol=1e-5)
    mirrored = mirror_landmarks(world)
    np.testing.assert_allclose(made.joints_m[5:].numpy(), mirrored[:, list(BODY_JOINTS)], atol=1e-5)
    assert len(lifter_examples(shard.cond, world, mirrored=False)) == 5


def recipe(tmp_path: Path, **changes: object) -> LifterRecipe:
    folder = tmp_path / "renders"
    if not folder.exists():
        folder.mkdir()
        posed_shard(96).save(folder / "clip_00000.npz")
        posed_shard(32, seed=1).save(tmp_path / "validation.npz")
        (tmp_path / "val").mkdir()
        (tmp_path / "validation.npz").replace(tmp_path / "val" / "clip_00000.npz")
    values: dict = dict(
        out=tmp_path / "run",
        renders=(folder,),
        validation=tmp_path / "val",
        model=LifterConfig(width=64, blocks=1, dropout=0.0),
        steps=120,
        batch_size=32,
        lr=3e-3,
        warmup_steps=10,
        synthetic=0,
        checkpoint_every=40,
    )
    values.update(changes)
    return LifterRecipe(**values)  # type: ignore[arg-type]


def test_a_short_run_lowers_the_validation_error_and_saves_a_loadable_lifter(tmp_path: Path) -> None:
    metrics = train_lifter(recipe(tmp_path, steps=400, checkpoint_every=100))
    errors = [entry["validation"]["mpjpe_mm"] for entry in metrics["history"]]
    truth = rendered_lifter_examples(posed_shard(32, seed=1), mirrored=False).joints_m
    guess_zero = 1000 * float(truth.norm(dim=-1).mean())  # the error of answering the hip centre for every joint
    assert len(errors) == 4 and errors[-1] < errors[0] and errors[-1] < 0.5 * guess_zero, (errors, guess_zero)
    lifter = load_lifter(tmp_path / "run" / "lifter.pt")
    assert lifter.config.width == 64
    assert torch.load(tmp_path / "run" / "lifter.pt", weights_only=True)["metadata"]["recipe"]["steps"] == 400


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    whole = train_lifter(recipe(tmp_path, out=tmp_path / "whole"))
    part = train_lifter(recipe(tmp_path, out=tmp_path / "cut", stop_at=50))  # as a run killed after step 50
    assert part["final"]["step"] == 50
    resumed = train_lifter(recipe(tmp_path, out=tmp_path / "cut", resume=True))
    assert [entry["step"] for entry in resumed["history"]] == [40, 50, 80, 120]
    assert resumed["final"]["loss_mm"] == whole["final"]["loss_mm"]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_fine_tune_starts_from_the_given_lifter_and_a_mismatch_names_the_fix(tmp_path: Path) -> None:
    first = train_lifter(recipe(tmp_path, out=tmp_path / "first", steps=400, checkpoint_every=100))
    # Zero steps from --init: the saved lifter is the one it started from (float16 both times).
    again = train_lifter(recipe(tmp_path, out=tmp_path / "again", init=tmp_path / "first" / "lifter.pt", steps=0))
    assert again["final"] == {}
    a, b = (load_lifter(tmp_path / name / "lifter.pt").state_dict() for name in ("first", "again"))
    assert all(torch.equal(a[name], b[name]) for name in a)
    # A few more steps start from the trained error, not a fresh network's.
    tuned = train_lifter(recipe(tmp_path, out=tmp_path / "tuned", init=tmp_path / "first" / "lifter.pt", steps=40))
    fresh = train_lifter(recipe(tmp_path, out=tmp_path / "fresh", steps=40))
    assert tuned["final"]["validation"]["mpjpe_mm"] < fresh["final"]["validation"]["mpjpe_mm"]
    assert tuned["final"]["validation"]["mpjpe_mm"] < 1.2 * first["final"]["validation"]["mpjpe_mm"]
    wider = LifterConfig(width=96, blocks=1, dropout=0.0)
    with pytest.raises(ConfigError, match="--width"):
        train_lifter(recipe(tmp_path, out=tmp_path / "bad", init=tmp_path / "first" / "lifter.pt", model=wider))
    save_lifter(join_lifters([tmp_path / "first" / "lifter.pt", tmp_path / "tuned" / "lifter.pt"]), tmp_path / "e.pt")
    with pytest.raises(ConfigError, match="ensemble"):
        train_lifter(recipe(tmp_path, out=tmp_path / "bad", init=tmp_path / "e.pt"))


def test_synthetic_crops_made_for_another_recipe_are_refused_and_matching_ones_are_read(tmp_path: Path) -> None:
    """A rerun into the same --out with other synthetic flags must not train on the first run's crops."""
    from mocap.lifter.train import synthetic_recipe

    shard = posed_shard(64, seed=2)
    run = recipe(tmp_path, synthetic=64, synthetic_fraction=0.25, steps=40)
    run.out.mkdir()
    crops = {"cond": shard.cond, "landmarks_cam_m": shard.cond[..., 3:]}
    np.savez(run.out / "synthetic.npz", **crops, made_by=np.array(synthetic_recipe(replace(run, seed=7))))
    with pytest.raises(ConfigError, match=r"synthetic crops made for .*new --out"):
        train_lifter(run)
    np.savez(run.out / "synthetic.npz", **crops, made_by=np.array(synthetic_recipe(replace(run, limb_mix=0.5))))
    with pytest.raises(ConfigError, match=r"synthetic crops made for .*limb_mix"):
        train_lifter(run)
    np.savez(run.out / "synthetic.npz", **crops, made_by=np.array(synthetic_recipe(run)))
    assert "limb_mix" not in synthetic_recipe(run)  # unset: the recipe reads as files made before mixing existed
    assert train_lifter(run)["final"]["step"] == 40  # read, not made again (making them needs the motion data)
