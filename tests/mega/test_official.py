from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.mega.backbones import BackboneConfig
from mocap.mega.model import Mega, MegaConfig
from mocap.mega.official import config_for, load_official, load_strict, read_state_dict


def fact_sheet_keys(D: int, C: int | None, encoder_layers: int, decoder_layers: int) -> dict[str, tuple[int, ...]]:
    """Non-backbone keys and shapes of the official CVQMAE (C given) / VQMAE (C None), written from the fact sheet."""

    def block(prefix: str) -> dict[str, tuple[int, ...]]:
        return {
            f"{prefix}.norm1.weight": (D,), f"{prefix}.norm1.bias": (D,),
            f"{prefix}.attn.qkv.weight": (3 * D, D),
            f"{prefix}.attn.proj.weight": (D, D), f"{prefix}.attn.proj.bias": (D,),
            f"{prefix}.norm2.weight": (D,), f"{prefix}.norm2.bias": (D,),
            f"{prefix}.mlp.fc1.weight": (4 * D, D), f"{prefix}.mlp.fc1.bias": (4 * D,),
            f"{prefix}.mlp.fc2.weight": (D, 4 * D), f"{prefix}.mlp.fc2.bias": (D,),
        }  # fmt: skip

    keys = {
        "encoder.cls_token": (1, 1, D), "encoder.pos_embedding": (54, 1, D), "encoder.proj.weight": (512, D),
        "encoder.layer_norm.weight": (D,), "encoder.layer_norm.bias": (D,),
        "decoder.mask_token": (1, 1, D), "decoder.pos_embedding": (55, 1, D),
        "decoder.head.weight": (512, D), "decoder.head.bias": (512,),
    }  # fmt: skip
    for i in range(encoder_layers):
        keys |= block(f"encoder.transformer.{i}")
    for i in range(decoder_layers):
        keys |= block(f"decoder.transformer.{i}")
    if C is not None:
        keys |= {
            "decoder.rotcam_head.0.weight": (D, C), "decoder.rotcam_head.0.bias": (D,),
            "decoder.rotcam_head.2.weight": (D, D), "decoder.rotcam_head.2.bias": (D,),
            "decoder.rot_predictor.weight": (6, D), "decoder.rot_predictor.bias": (6,),
            "decoder.cam_predictor.weight": (3, D), "decoder.cam_predictor.bias": (3,),
            "decoder.cond_emb.weight": (D, C), "decoder.cond_emb.bias": (D,),
        }  # fmt: skip
    return keys


def shapes(model: torch.nn.Module, backbone: bool = False) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith("backbone.") == backbone}


@pytest.mark.parametrize(
    ("name", "C"),
    [("official_resnet", 2048), ("official_hrnet", 720), ("official_vit", 1280), ("official_pretrained", None)],
)
def test_full_size_layout_equals_the_fact_sheet(name: str, C: int | None) -> None:
    with torch.device("meta"):
        model = Mega(getattr(MegaConfig, name)())
    assert shapes(model) == fact_sheet_keys(1024, C, 12, 4)


def test_full_size_backbone_key_samples() -> None:
    with torch.device("meta"):
        resnet, hrnet, vit = (
            Mega(MegaConfig.official_resnet()),
            Mega(MegaConfig.official_hrnet()),
            Mega(MegaConfig.official_vit()),
        )
    r, h, v = shapes(resnet, True), shapes(hrnet, True), shapes(vit, True)
    assert r["backbone.0.weight"] == (64, 3, 7, 7) and r["backbone.1.running_var"] == (64,)
    assert r["backbone.4.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert r["backbone.7.2.conv3.weight"] == (2048, 512, 1, 1) and "backbone.2.weight" not in r
    assert h["backbone.final_layer.weight"] == (24, 48, 1, 1)
    assert h["backbone.transition3.3.0.0.weight"] == (384, 192, 3, 3)
    assert h["backbone.stage4.2.fuse_layers.3.0.2.0.weight"] == (384, 48, 3, 3)
    assert {k.split(".")[2] for k in h if k.startswith("backbone.downsample_stage_1.")} == {
        "0",
        "1",
        "3",
        "4",
        "6",
        "7",
    }
    assert {k.split(".")[2] for k in h if k.startswith("backbone.downsample_stage_3.")} == {"0", "1"}
    assert v["backbone.patch_embed.proj.weight"] == (1280, 3, 16, 16) and v["backbone.pos_embed"] == (1, 193, 1280)
    assert v["backbone.blocks.31.attn.qkv.bias"] == (3840,) and v["backbone.last_norm.weight"] == (1280,)


def reduced(name: str) -> MegaConfig:
    """The official layout at reduced width, for fast save/load round trips."""
    small = {"emb_dim": 32, "encoder_layer": 2, "decoder_layer": 1}
    if name == "pretrained":
        return replace(MegaConfig.official_pretrained(), **small)
    backbone = {
        "resnet": BackboneConfig("resnet50", (32, 32)),
        "hrnet": BackboneConfig("hrnet_w48", (32, 32), hrnet_width=8),
        "vit": BackboneConfig("vit_h", (256, 192), vit_dim=32, vit_depth=2, vit_heads=2),
    }[name]
    base = MegaConfig.official_resnet()
    return replace(base, **small, backbone=backbone, cond_dim=backbone.out_channels, cond_length=backbone.num_tokens)


def write_official(model: Mega, root: Path, relative: str, ddp: bool = True) -> Path:
    """A checkpoint as the reference trainer writes it: dict(model, optimizer, scheduler, epoch, loss, metrics)."""
    state = {("module." if ddp else "") + k: v for k, v in model.state_dict().items()}
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"optimizer": {"state": {}, "param_groups": [{"lr": 6.25e-5}]}, "scheduler": {"last_epoch": 3}, "epoch": 3}
    torch.save({"model": state, **extra, "loss": 1.5, "pampjpe": np.float64(44.1), "v2v": np.float32(81.6)}, path)
    return path


@pytest.mark.parametrize(
    ("name", "relative"),
    [
        ("resnet", "CVQMAE/mega_resnet"),
        ("hrnet", "CVQMAE/mega_hrnet"),
        ("vit", "CVQMAE/mega_vit"),
        ("pretrained", "VQMAE/mega_pretrained"),
    ],
)
def test_strict_round_trip_in_the_official_layout(tmp_path: Path, name: str, relative: str) -> None:
    torch.manual_seed(0)
    source = Mega(reduced(name)).eval()
    write_official(source, tmp_path, relative, ddp=name != "hrnet")
    loaded = load_official(name, tmp_path, config=reduced(name))  # type: ignore[arg-type]
    assert not loaded.training
    loaded_state = loaded.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded_state[key], value), key
    ids, visible = torch.randint(0, 512, (2, 54)), torch.zeros(2, 54, dtype=torch.bool)
    visible[:, :10] = True
    cond = None if name == "pretrained" else torch.randn(2, 3, *source.config.backbone.image_size_hw)  # type: ignore[union-attr]
    with torch.no_grad():
        assert torch.allclose(loaded(ids, visible, cond).logits, source(ids, visible, cond).logits, atol=1e-5)


@pytest.mark.slow
def test_full_size_resnet_loads_strictly(tmp_path: Path) -> None:
    source = Mega(MegaConfig.official_resnet())
    write_official(source, tmp_path, "CVQMAE/mega_resnet")
    loaded = load_official("resnet", tmp_path)
    assert torch.equal(loaded.decoder.cond_emb.weight, source.decoder.cond_emb.weight)  # type: ignore[union-attr]
    assert torch.equal(loaded.backbone[7][2].bn3.running_mean, source.backbone[7][2].bn3.running_mean)


def test_vit_token_count_comes_from_pos_embed() -> None:
    assert config_for("vit", {"backbone.pos_embed": torch.zeros(1, 193, 8)}).cond_length == 192
    assert config_for("vit", {"backbone.pos_embed": torch.zeros(1, 197, 8)}).backbone.image_size_hw == (224, 224)  # type: ignore[union-attr]
    with pytest.raises(CheckpointError, match="pos_embed"):
        config_for("vit", {"backbone.pos_embed": torch.zeros(1, 50, 8)})
    with pytest.raises(CheckpointError, match="pos_embed"):
        config_for("vit", {})


def test_missing_file_names_the_record_and_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="14974141") as error:
        load_official("hrnet", tmp_path)
    assert str(tmp_path / "CVQMAE" / "mega_hrnet") in str(error.value)


def test_mismatches_are_listed(tmp_path: Path) -> None:
    write_official(Mega(reduced("resnet")), tmp_path, "CVQMAE/mega_hrnet")
    with pytest.raises(CheckpointError) as error:
        load_official("hrnet", tmp_path, config=reduced("hrnet"))
    message = str(error.value)
    assert "missing key(s): backbone.bn1.bias" in message and "unexpected key(s): backbone.0.weight" in message
    assert "shape key(s): decoder.cond_emb.weight: file (32, 2048) vs model (32, 120)" in message


def test_extra_and_shape_mismatch_keys(tmp_path: Path) -> None:
    model = Mega(reduced("pretrained"))
    state = dict(model.state_dict())
    state["decoder.extra"] = torch.zeros(1)
    state["decoder.head.bias"] = torch.zeros(7)
    del state["encoder.cls_token"]
    with pytest.raises(
        CheckpointError, match=r"1 missing key\(s\): encoder.cls_token; 1 unexpected key\(s\): decoder.extra; 1 shape"
    ):
        load_strict(model, state)


def test_unreadable_files(tmp_path: Path) -> None:
    garbage = tmp_path / "VQMAE" / "mega_pretrained"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="re-download"):
        load_official("pretrained", tmp_path)
    torch.save({"epoch": 3, "model": {"a": [1, 2]}}, garbage)
    with pytest.raises(CheckpointError, match="no 'model' state dict"):
        read_state_dict(garbage)


def test_hrnet_trunk_has_the_published_pose_hrnet_w48_size() -> None:
    """pose_hrnet_w48 has 63.6 M parameters; MEGA adds the multi-scale fuse of the last module and 3 downsamplers."""
    with torch.device("meta"):
        hrnet = Mega(MegaConfig.official_hrnet()).backbone

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    multiscale = sum(count(hrnet.stage4[2].fuse_layers[i]) for i in (1, 2, 3))
    downsample = sum(count(getattr(hrnet, f"downsample_stage_{i}")) for i in (1, 2, 3))
    assert (count(hrnet) - multiscale - downsample) / 1e6 == pytest.approx(63.6, abs=0.05)
    assert downsample / 1e6 == pytest.approx(0.56, abs=0.01)


def test_saved_non_persistent_buffers_are_tolerated() -> None:
    model = Mega(reduced("resnet"))
    state = dict(model.state_dict())
    state["decoder.pos_emb_cond.pe"] = torch.zeros(4, 32)  # what a persistent registration would have saved
    load_strict(model, state)
    assert model.decoder.pos_emb_cond.pe.abs().sum() > 0  # type: ignore[union-attr]
