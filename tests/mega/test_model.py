from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from mocap.mega.backbones import BackboneConfig
from mocap.mega.conditioning import SinusoidalPositionalEncoding, landmark_features
from mocap.mega.model import Mega, MegaConfig, parameter_count

N, S = 54, 512


def random_visible(batch: int, num_visible: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(batch, N, generator=generator).argsort(dim=1)
    return torch.zeros(batch, N, dtype=torch.bool).scatter_(1, order[:, :num_visible], True)


def landmarks(batch: int, features: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    crop = torch.rand(batch, 33, 3, generator=generator) * 2 - 1
    crop[..., 2] = 1.0  # visible
    world = torch.randn(batch, 33, 3, generator=generator) * 0.3 if features == 6 else None
    return landmark_features(crop, world)


def small_image_config(kind: str) -> tuple[MegaConfig, torch.Tensor]:
    """An official image config with the same key layout at reduced width (tests stay fast)."""
    backbone = {
        "resnet50": BackboneConfig("resnet50", (64, 64)),
        "hrnet_w48": BackboneConfig("hrnet_w48", (64, 64), hrnet_width=8),
        "vit_h": BackboneConfig("vit_h", (64, 48), vit_dim=32, vit_depth=2, vit_heads=2),
    }[kind]
    config = replace(
        MegaConfig.official_resnet(),
        emb_dim=32,
        encoder_layer=1,
        decoder_layer=1,
        backbone=backbone,
        cond_dim=backbone.out_channels,
        cond_length=backbone.num_tokens,
    )
    return config, torch.randn(2, 3, *backbone.image_size_hw)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("num_visible", [0, 17, 54])
@pytest.mark.parametrize("features", [3, 6])
def test_landmark_model_shapes(batch: int, num_visible: int, features: int) -> None:
    model = Mega(replace(MegaConfig.tiny(), cond_dim=features)).eval()
    ids = torch.randint(0, S, (batch, N))
    out = model(ids, random_visible(batch, num_visible), landmarks(batch, features))
    assert out.logits.shape == (batch, N, S)
    assert out.rotation_6d is not None and out.rotation_6d.shape == (batch, 6)
    assert out.camera is not None and out.camera.shape == (batch, 3)


@pytest.mark.parametrize("kind", ["resnet50", "hrnet_w48", "vit_h"])
def test_image_model_shapes(kind: str) -> None:
    config, images = small_image_config(kind)
    model = Mega(config).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, N, dtype=torch.long), random_visible(2, 5), images)
        condition = model.condition(images)
    assert out.logits.shape == (2, N, S) and out.camera is not None and out.camera.shape == (2, 3)
    assert condition.tokens.shape == (2, config.cond_length, 32)
    assert condition.pooled.shape == (2, config.cond_dim)


def test_pretraining_model_has_no_condition() -> None:
    config = replace(MegaConfig.official_pretrained(), emb_dim=32, encoder_layer=1, decoder_layer=1)
    model = Mega(config).eval()
    out = model(torch.zeros(4, N, dtype=torch.long), random_visible(4, 20))
    assert out.logits.shape == (4, N, S) and out.rotation_6d is None and out.camera is None
    assert not any(k.startswith(("decoder.cond_emb", "decoder.rot", "backbone")) for k in model.state_dict())
    with pytest.raises(ValueError, match="no conditioning"):
        model.condition(torch.zeros(1, 33, 3))


def test_masked_ids_are_ignored_and_visible_ids_matter() -> None:
    model = Mega(MegaConfig.tiny()).eval()
    visible = random_visible(2, 20)
    ids = torch.randint(0, S, (2, N))
    cond = landmarks(2)
    with torch.no_grad():
        base = model(ids, visible, cond).logits
        other_masked = torch.where(visible, ids, torch.randint(0, S, (2, N)))
        assert torch.allclose(model(other_masked, visible, cond).logits, base, atol=1e-5)
        other_visible = torch.where(visible, (ids + 1) % S, ids)
        assert not torch.allclose(model(other_visible, visible, cond).logits, base, atol=1e-3)


def test_rows_are_independent_of_the_batch() -> None:
    model = Mega(MegaConfig.tiny()).eval()
    ids, visible, cond = torch.randint(0, S, (3, N)), random_visible(3, 30), landmarks(3)
    with torch.no_grad():
        together = model(ids, visible, cond).logits
        alone = model(ids[1:2], visible[1:2], cond[1:2]).logits
    assert torch.allclose(together[1:2], alone, atol=1e-5)


def test_missing_landmarks_use_the_missing_token() -> None:
    model = Mega(MegaConfig.tiny()).eval()
    cond = landmarks(1)
    cond[0, 5, 2] = 0.1  # invisible: its coordinates must not matter
    moved = cond.clone()
    moved[0, 5, :2] = torch.tensor([0.9, -0.9])
    absent = cond.clone()
    absent[0, 5] = float("nan")
    ids, visible = torch.zeros(1, N, dtype=torch.long), random_visible(1, 0)
    with torch.no_grad():
        base = model(ids, visible, cond)
        for other in (moved, absent):
            out = model(ids, visible, other)
            assert torch.allclose(out.logits, base.logits, atol=1e-5)
            assert torch.allclose(out.camera, base.camera, atol=1e-5)  # type: ignore[arg-type]
        assert not torch.isnan(model(ids, visible, absent).logits).any()


def test_upright_model_turns_its_answer_with_the_input() -> None:
    from mocap.body.rotations import rotation_6d_to_matrix
    from mocap.mega.geometry import turn_landmark_features, view_axis_rotation

    model = Mega(replace(MegaConfig.tiny(), cond_dim=6, upright=True)).eval()
    cond = torch.cat([landmarks(2), torch.randn(2, 33, 3, generator=torch.Generator().manual_seed(1))], dim=-1)
    turn = view_axis_rotation(torch.tensor([2.8, -1.1]))  # e.g. a handstand, and a body lying on its side
    ids, visible = torch.zeros(2, N, dtype=torch.long), random_visible(2, 0)
    with torch.no_grad():
        base, turned = model(ids, visible, cond), model(ids, visible, turn_landmark_features(cond, turn))
    assert torch.allclose(turned.logits, base.logits, atol=1e-4)  # the same body, whichever way up
    R_base, R_turned = rotation_6d_to_matrix(base.rotation_6d), rotation_6d_to_matrix(turned.rotation_6d)
    assert torch.allclose(R_turned, turn @ R_base, atol=1e-5)
    shift = (turn[:, :2, :2] @ base.camera[:, 1:, None])[..., 0]  # type: ignore[index]
    assert torch.allclose(turned.camera[:, 1:], shift, atol=1e-5)  # type: ignore[index]
    plain = Mega(replace(model.config, upright=False)).eval()
    plain.load_state_dict(model.state_dict())  # the flag adds no weights
    with torch.no_grad():
        unturned = plain(ids, visible, turn_landmark_features(cond, turn)).logits
    assert not torch.allclose(unturned, base.logits, atol=1e-4)


def test_unequal_visible_counts_are_rejected() -> None:
    model = Mega(MegaConfig.tiny())
    visible = torch.zeros(2, N, dtype=torch.bool)
    visible[0, :3] = True
    with pytest.raises(ValueError, match="same number of visible"):
        model(torch.zeros(2, N, dtype=torch.long), visible, landmarks(2))


def test_argmax_and_sample_entry_points() -> None:
    model = Mega(MegaConfig.tiny()).eval()
    cond = landmarks(2)
    tokens, out = model.argmax(cond, batch=2)
    assert tokens.ids.shape == (2, N) and tokens.uncertainty.shape == (2,)
    assert torch.equal(tokens.ids, out.logits.argmax(-1))
    samples = model.sample(cond, batch=2, num_samples=4, steps=5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, 4, N)
    one_step = model.sample(cond, batch=2, num_samples=2, steps=1)
    assert torch.equal(one_step[:, 0], tokens.ids) and torch.equal(one_step[:, 1], tokens.ids)


def test_official_parameter_counts_match_the_reference() -> None:
    """Encoder 151.70 M; decoder + heads 56.21 M (ResNet, C=2048), 53.49 M (HRNet, C=720) per the fact sheet."""
    with torch.device("meta"):
        resnet, hrnet = Mega(MegaConfig.official_resnet()), Mega(MegaConfig.official_hrnet())
    assert parameter_count(resnet.encoder) == pytest.approx(151.70e6, rel=1e-4)
    assert parameter_count(resnet.decoder) == pytest.approx(56.21e6, rel=1e-4)
    assert parameter_count(hrnet.decoder) == pytest.approx(53.49e6, rel=1e-4)
    assert parameter_count(resnet.backbone) == pytest.approx(23.5e6, rel=1e-2)


def test_sinusoidal_code_values() -> None:
    pe = SinusoidalPositionalEncoding(4, 6)
    assert torch.allclose(pe.pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert pe.pe[1, 0].item() == pytest.approx(0.8414710)  # sin(1)
    assert pe.pe[1, 2].item() == pytest.approx(torch.sin(torch.tensor(10000 ** (-2 / 6))).item())
    assert "pe" not in pe.state_dict()


def test_crop_normalisation() -> None:
    from mocap.mega.backbones import normalize_crops

    config = BackboneConfig("vit_h", (4, 3))
    crops = torch.full((2, 4, 3, 3), 255, dtype=torch.uint8)
    out = normalize_crops(crops, config)
    assert out.shape == (2, 3, 4, 3)
    assert out[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229)
    with pytest.raises(ValueError, match="expects"):
        normalize_crops(torch.zeros(1, 5, 3, 3, dtype=torch.uint8), config)


def test_unconditional_sampling_for_pretraining_models() -> None:
    model = Mega(replace(MegaConfig.tiny(), cond="none", cond_dim=0, cond_length=0)).eval()
    samples = model.sample(None, batch=2, num_samples=3, steps=4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, 3, N)


@pytest.mark.parametrize(
    ("preset", "tokens", "channels"),
    [("official_resnet", 49, 2048), ("official_hrnet", 49, 720), ("official_vit", 192, 1280)],
)
def test_full_size_backbones_give_the_reference_token_grids(preset: str, tokens: int, channels: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no compute
        model = Mega(getattr(MegaConfig, preset)())
        config = model.config
        assert config.backbone is not None and config.cond_length == tokens
        condition = model.condition(torch.empty(3, 3, *config.backbone.image_size_hw))
        rotation, camera = model.rotcam(condition)
    assert condition.tokens.shape == (3, tokens, 1024) and condition.pooled.shape == (3, channels)
    assert rotation.shape == (3, 6) and camera.shape == (3, 3)
