from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.mega.model import Mega, MegaConfig
from mocap.mega.schedules import cosine
from mocap.mega.synthetic import synthesize_landmarks
from mocap.mega.train import (
    TokenGeometry,
    TrainConfig,
    Trainer,
    TrainingBatch,
    init_from_pretrained,
    load_trained,
    lr_factor,
    mega_losses,
    random_visible,
)

N, S = 54, 512
PRETRAIN = replace(MegaConfig.tiny(), cond="none", cond_dim=0, cond_length=0)
CONDITIONED = replace(MegaConfig.tiny(), cond_dim=6, rotcam_gelu=True, rotcam_dropout=0.1)
FAST = TrainConfig(steps=60, base_lr=0.05, warmup_steps=5, checkpoint_every=1000)


class TinyDataset:
    """4 'meshes': fixed random token sequences and landmark clouds; batches are seeded by the step."""

    def __init__(self, conditioned: bool, batch_size: int = 16) -> None:
        generator = torch.Generator().manual_seed(123)
        self.ids = torch.randint(0, S, (4, N), generator=generator)
        points = (torch.rand(4, 33, 3, generator=generator) - 0.5) * torch.tensor([0.4, 0.25, 1.7])
        self.landmarks = points - points.mean(dim=1, keepdim=True)
        self.conditioned, self.batch_size = conditioned, batch_size

    def __call__(self, step: int) -> TrainingBatch:
        generator = torch.Generator().manual_seed(10_000 + step)
        pick = torch.randint(0, 4, (self.batch_size,), generator=generator)
        if not self.conditioned:
            return TrainingBatch(self.ids[pick])
        return synthesize_landmarks(self.ids[pick], self.landmarks[pick], generator)


def mean(values: list[torch.Tensor]) -> float:
    return float(torch.stack(values).mean())


def test_lr_schedule_warms_up_then_decays() -> None:
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(0.5 * (math.cos(math.pi * 0.09) + 1))  # cosine already below 1
    assert lr_factor(50, 10, 100) == pytest.approx(0.5)
    assert lr_factor(99, 10, 100) < 0.001


def test_training_masks_keep_at_least_one_target() -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        visible = random_visible(3, N, lambda t: 0.0, generator, torch.device("cpu"))  # schedule: nothing masked
        assert (visible.sum(1) == N - 1).all()
    visible = random_visible(4, N, lambda t: 0.5, generator, torch.device("cpu"))
    assert (visible.sum(1) == 27).all() and not torch.equal(visible[0], visible[1])


def test_pretraining_lowers_the_loss(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = Trainer(Mega(PRETRAIN), TinyDataset(conditioned=False), FAST, tmp_path / "pre.pt")
    history = trainer.fit()
    ce = [losses.cross_entropy for losses in history]
    assert mean(ce[:5]) > math.log(S) - 1.0
    assert mean(ce[-5:]) < 0.7 * mean(ce[:5])
    assert all(float(losses.rotation) == 0 for losses in history)


def test_conditioned_training_lowers_every_loss(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = Trainer(Mega(CONDITIONED), TinyDataset(conditioned=True), replace(FAST, steps=60), tmp_path / "c.pt")
    history = trainer.fit()
    for name in ("cross_entropy", "rotation", "reprojection"):
        series = [getattr(losses, name) for losses in history]
        assert mean(series[-8:]) < 0.8 * mean(series[:8]), name


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    config = replace(FAST, steps=6, checkpoint_every=3)
    torch.manual_seed(1)
    straight = Trainer(Mega(CONDITIONED), TinyDataset(True, 4), config, tmp_path / "a.pt")
    straight.fit()
    torch.manual_seed(1)
    first = Trainer(Mega(CONDITIONED), TinyDataset(True, 4), config, tmp_path / "b.pt")
    first.fit(until=3)
    torch.manual_seed(99)  # a different fresh init: everything must come from the checkpoint
    resumed = Trainer(Mega(CONDITIONED), TinyDataset(True, 4), config, tmp_path / "b.pt")
    assert resumed.step == 3
    resumed.fit()
    for (key, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), key
    assert not list(tmp_path.glob("*.partial"))
    loaded = load_trained(tmp_path / "b.pt")
    assert loaded.config == CONDITIONED and not loaded.training


def test_resume_with_another_config_is_refused(tmp_path: Path) -> None:
    Trainer(Mega(PRETRAIN), TinyDataset(False, 2), replace(FAST, steps=1), tmp_path / "x.pt").fit()
    with pytest.raises(CheckpointError, match="same model config"):
        Trainer(Mega(CONDITIONED), TinyDataset(True, 2), FAST, tmp_path / "x.pt")
    with pytest.raises(ModelNotFoundError, match="mocap train mega"):
        load_trained(tmp_path / "absent.pt")


def test_stage_two_starts_from_the_pretrained_weights() -> None:
    pretrained, conditioned = Mega(PRETRAIN), Mega(CONDITIONED)
    init_from_pretrained(conditioned, pretrained.state_dict())
    assert torch.equal(conditioned.encoder.proj.weight, pretrained.encoder.proj.weight)
    assert torch.equal(conditioned.decoder.head.bias, pretrained.decoder.head.bias)
    wider = Mega(replace(PRETRAIN, emb_dim=64))
    with pytest.raises(CheckpointError, match="same emb_dim"):
        init_from_pretrained(conditioned, wider.state_dict())


def test_reprojection_through_decoded_tokens_trains_only_rotation_and_camera() -> None:
    model = Mega(CONDITIONED)
    codebook_joints = torch.randn(S, 33, 3) * 0.01  # a random 'tokenizer': each token moves the 33 keypoints
    seen: list[torch.Tensor] = []

    def decode(ids: torch.Tensor) -> torch.Tensor:
        seen.append(ids)
        return codebook_joints[ids].sum(dim=1)  # (B, 33, 3)

    batch = TinyDataset(True, 3)(0)
    config = replace(FAST, rotation_weight=0.0)
    losses = mega_losses(
        model, replace(batch, keypoints_canonical_m=None), torch.Generator(), config, decode_keypoints=decode
    )
    assert len(seen) == 1 and seen[0].shape == (3, N)
    model.zero_grad()
    losses.reprojection.backward()
    assert model.decoder.head.weight.grad is None or model.decoder.head.weight.grad.abs().sum() == 0
    assert (
        model.decoder.cam_predictor.weight.grad is not None and model.decoder.cam_predictor.weight.grad.abs().sum() > 0
    )


def test_geometry_loss_scores_the_argmax_mesh_and_trains_the_token_head() -> None:
    model = Mega(CONDITIONED)
    codebook = torch.randn(S, 4)
    lift = torch.randn(N * 4, 33 * 3) * 0.05  # a random linear 'decoder': code embeddings -> 33 keypoints

    def keypoints(z: torch.Tensor) -> torch.Tensor:
        return (z.flatten(1) @ lift).view(-1, 33, 3)

    batch = TinyDataset(True, 3)(0)
    config = replace(FAST, geometry_weight=2.0)
    torch.manual_seed(0)
    losses = mega_losses(
        model, batch, torch.Generator().manual_seed(1), config, geometry=TokenGeometry(codebook, keypoints)
    )
    # The forward value is the keypoint error of the hard argmax tokens (visible tokens from the ground truth).
    visible = random_visible(3, N, cosine, torch.Generator().manual_seed(1), torch.device("cpu"))
    torch.manual_seed(0)
    with torch.no_grad():
        argmax = torch.where(visible, batch.ids, model(batch.ids, visible, batch.cond).logits.argmax(-1))
    assert batch.keypoints_canonical_m is not None
    expected = (keypoints(codebook[argmax]) - batch.keypoints_canonical_m).norm(dim=-1).mean()
    torch.testing.assert_close(losses.geometry, expected)
    torch.testing.assert_close(
        losses.total, losses.cross_entropy + losses.rotation + losses.reprojection + 2.0 * losses.geometry
    )
    model.zero_grad()
    losses.geometry.backward()
    assert model.decoder.head.weight.grad is not None and model.decoder.head.weight.grad.abs().sum() > 0
    off = mega_losses(model, batch, torch.Generator().manual_seed(1), FAST, geometry=TokenGeometry(codebook, keypoints))
    assert float(off.geometry) == 0.0  # weight 0: not computed


def test_configs_survive_a_plain_dict_round_trip() -> None:
    import dataclasses
    import json

    from mocap.mega.train import config_from_dict

    for config in (MegaConfig.official_vit(), MegaConfig.anny_landmarks_small(), PRETRAIN):
        assert config_from_dict(json.loads(json.dumps(dataclasses.asdict(config)))) == config
