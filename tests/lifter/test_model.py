"""The joint lifter: shapes, the upright turn, the two views, the mirror of its joints, saving and loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.errors import ModelNotFoundError
from mocap.lifter.model import (
    JOINT_MIRROR,
    JointLifter,
    LifterConfig,
    LifterEnsemble,
    crop_features,
    join_lifters,
    lift_joints,
    load_lifter,
    mirror_joints,
    save_lifter,
)
from mocap.mega.geometry import turn_landmark_features, view_axis_rotation
from mocap.mesh.mirror import mirror_crops
from mocap.types import Crops


def small_lifter(seed: int = 0) -> JointLifter:
    torch.manual_seed(seed)
    return JointLifter(LifterConfig(width=32, blocks=1)).eval()


def random_crops(n: int, seed: int = 0) -> Crops:
    rng = np.random.default_rng(seed)
    landmarks = np.concatenate([rng.uniform(-0.8, 0.8, (n, 33, 2)), rng.uniform(0.5, 1, (n, 33, 1))], -1)
    landmarks[:, [11, 12], 1] -= 0.5  # shoulders above the hips: upright-ish
    world = rng.normal(0, 0.3, (n, 33, 3))
    return Crops(np.arange(n), np.zeros((n, 2)), np.ones(n), landmarks.astype(np.float32), world.astype(np.float32))


def test_joint_mirror_pairs_left_and_right_and_is_an_involution() -> None:
    assert sorted(JOINT_MIRROR) == list(range(12))
    assert all(JOINT_MIRROR[JOINT_MIRROR[i]] == i for i in range(12))
    assert all(BODY_JOINTS[JOINT_MIRROR[i]] == LANDMARK_MIRROR[j] for i, j in enumerate(BODY_JOINTS))
    joints = np.random.default_rng(0).normal(size=(4, 12, 3)).astype(np.float32)
    np.testing.assert_array_equal(mirror_joints(mirror_joints(joints)), joints)


def test_the_answer_turns_with_the_crop_about_the_viewing_axis() -> None:
    """The upright turn: the same body seen by a camera rolled about its axis gives the same joints, rolled."""
    lifter = small_lifter()
    features = crop_features(random_crops(5))
    roll = view_axis_rotation(torch.tensor([0.3, -1.2, 2.5, 3.0, -0.1]))  # (5, 3, 3)
    with torch.no_grad():
        joints, rolled = lifter(features), lifter(turn_landmark_features(features, roll))
    assert joints.shape == (5, 12, 3)
    torch.testing.assert_close(joints[:, [6, 7]].mean(dim=1), torch.zeros(5, 3), atol=1e-6, rtol=0)  # hip-centred
    torch.testing.assert_close(rolled, joints @ roll.transpose(1, 2), atol=2e-5, rtol=0)


def test_missing_landmarks_give_finite_joints() -> None:
    features = crop_features(random_crops(2))
    features[0, 25:] = torch.nan
    with torch.no_grad():
        assert torch.isfinite(small_lifter()(features)).all()


def test_the_answer_averages_a_mirror_image_the_flipped_frames_where_it_measured() -> None:
    lifter, crops = small_lifter(), random_crops(3)
    seen = random_crops(3, seed=1)
    seen.landmarks_crop[1] = np.nan  # the flipped frame missed the second person
    with torch.no_grad():
        direct = lifter(crop_features(crops)).numpy()
        flipped_frame = mirror_joints(lifter(crop_features(mirror_crops(seen))).numpy())
        own_mirror = mirror_joints(lifter(crop_features(mirror_crops(crops))).numpy())
    both = lift_joints(lifter, crops, seen)
    np.testing.assert_allclose(both[[0, 2]], (direct[[0, 2]] + flipped_frame[[0, 2]]) / 2, atol=1e-6)
    np.testing.assert_allclose(both[1], (direct[1] + own_mirror[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(lift_joints(lifter, crops), (direct + own_mirror) / 2, atol=1e-6)
    assert lift_joints(lifter, crops[[]]).shape == (0, 12, 3)


def test_a_mirrored_video_gives_exactly_the_mirrored_joints() -> None:
    """Flip-equivariance, whatever the lifter learnt: with one view, and with a flipped frame that measured the same
    as the frame (as a mirror-symmetric detector would)."""
    lifter, crops = small_lifter(), random_crops(4)
    mirrored = mirror_crops(crops)
    np.testing.assert_allclose(lift_joints(lifter, mirrored), mirror_joints(lift_joints(lifter, crops)), atol=1e-6)
    direct = lift_joints(lifter, crops, crops)
    np.testing.assert_allclose(lift_joints(lifter, mirrored, mirrored), mirror_joints(direct), atol=1e-6)
    with torch.no_grad():
        assert not np.allclose(lifter(crop_features(mirrored)).numpy(), mirror_joints(direct), atol=1e-3)


def test_saved_lifters_load_in_float16_precision(tmp_path: Path) -> None:
    lifter = small_lifter()
    save_lifter(lifter, tmp_path / "lifter.pt", {"command": "test"})
    loaded = load_lifter(tmp_path / "lifter.pt")
    assert isinstance(loaded, JointLifter)
    assert loaded.config == lifter.config and not loaded.training
    features = crop_features(random_crops(3))
    with torch.no_grad():
        torch.testing.assert_close(loaded(features), lifter(features), atol=5e-3, rtol=0)
    assert torch.load(tmp_path / "lifter.pt", weights_only=True)["metadata"] == {"command": "test"}


def test_int8_lifters_are_half_the_size_and_answer_within_their_rounding(tmp_path: Path) -> None:
    torch.manual_seed(0)  # wide enough that the hidden blocks, the part stored as int8, hold most weights
    lifter = LifterEnsemble([JointLifter(LifterConfig(width=256, blocks=2)) for _ in range(2)]).eval()
    save_lifter(lifter, tmp_path / "half.pt")
    save_lifter(lifter, tmp_path / "int8.pt", precision="int8")
    assert (tmp_path / "int8.pt").stat().st_size < 0.7 * (tmp_path / "half.pt").stat().st_size
    loaded = load_lifter(tmp_path / "int8.pt")
    for member, original in zip(loaded.members, lifter.members, strict=True):
        for (name, weight), (_, exact) in zip(member.named_parameters(), original.named_parameters(), strict=True):
            step = exact.abs().amax(dim=-1, keepdim=True) / 127 if exact.ndim == 2 else exact.abs() / 1000
            assert ((weight - exact).abs() <= step * 0.51 + 1e-6).all(), name  # half a step (float16 scale rounding)
    features = crop_features(random_crops(3))
    with torch.no_grad():
        torch.testing.assert_close(loaded(features), lifter(features), atol=2e-2, rtol=0)
    # Saving a loaded int8 file as int8 again gives the same weights (the codes are exact at their scales).
    save_lifter(loaded, tmp_path / "again.pt", precision="int8")
    for a, b in zip(load_lifter(tmp_path / "again.pt").parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-3)


def test_missing_or_foreign_files_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="mocap train lifter"):
        load_lifter(tmp_path / "absent.pt")
    torch.save({"state": {}}, tmp_path / "other.pt")
    with pytest.raises(ModelNotFoundError, match="mocap train lifter"):
        load_lifter(tmp_path / "other.pt")


def test_an_ensemble_answers_its_members_mean_and_saves_as_one_file(tmp_path: Path) -> None:
    members = [small_lifter(seed) for seed in range(3)]
    ensemble = LifterEnsemble(members).eval()
    features = crop_features(random_crops(4))
    with torch.no_grad():
        mean = torch.stack([member(features) for member in members]).mean(dim=0)
        torch.testing.assert_close(ensemble(features), mean)
    save_lifter(ensemble, tmp_path / "ensemble.pt", {"command": "test"})
    loaded = load_lifter(tmp_path / "ensemble.pt")
    assert isinstance(loaded, LifterEnsemble) and len(loaded.members) == 3 and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(features), mean, atol=5e-3, rtol=0)  # float16 weights
    # The mirror averaging and the upright turn work on it as on one lifter (the mean of equivariant answers).
    crops = random_crops(4)
    np.testing.assert_allclose(
        lift_joints(loaded, mirror_crops(crops)), mirror_joints(lift_joints(loaded, crops)), atol=1e-6
    )


def test_joining_flattens_ensembles_and_one_member_is_no_ensemble(tmp_path: Path) -> None:
    for seed in range(3):
        save_lifter(small_lifter(seed), tmp_path / f"l{seed}.pt")
    save_lifter(join_lifters([tmp_path / "l0.pt", tmp_path / "l1.pt"]), tmp_path / "pair.pt")
    joined = join_lifters([tmp_path / "pair.pt", tmp_path / "l2.pt"])
    assert len(joined.members) == 3
    assert all(isinstance(member, JointLifter) for member in joined.members)
    with pytest.raises(ValueError, match="at least two"):
        LifterEnsemble([small_lifter()])
