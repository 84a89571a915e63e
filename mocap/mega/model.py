"""MEGA: a masked generative autoencoder over mesh tokens (Fiche et al., CVPR 2025), one class for every variant.

Reads top to bottom: config and presets, encoder, decoder, the model. Attribute names equal the official
checkpoint keys (``encoder.proj``, ``decoder.rotcam_head.0``, ``backbone.4.0.conv1`` ...) so that
``load_state_dict(strict=True)`` works on the released CVQMAE/VQMAE files (see ``mocap.mega.official``).

- Encoder: the N=54 token ids of a mesh (codebook S=512) -> learned embedding ``proj`` + learned ``pos_embedding``
  -> drop the masked tokens (MAE-style; every row of a batch keeps the same number visible) -> ``cls_token`` in
  front -> pre-norm blocks -> ``layer_norm``.
- Decoder: ``mask_token`` fills the dropped slots, order restored, ``pos_embedding`` (1 + N slots) added,
  conditioning tokens PREFIXED (concatenation, not cross-attention) -> blocks (no final norm) -> ``head`` on the
  last N outputs -> logits (B, N, S). A rotation (6D) + weak-perspective camera (s, tx, ty) head reads the pooled
  conditioning only, so it does not depend on the tokens.
- Upright landmarks (ours, ``MegaConfig.upright``): before embedding, the landmarks are turned about the camera's
  viewing axis so that the torso points up in the crop; the rotation and camera come back turned the other way.
  An in-plane turn of the input then turns the output with it, by construction: a handstand reads as a standing
  body, which the training data holds plenty of.

Example:
    >>> model = Mega(MegaConfig.tiny())
    >>> out = model(torch.zeros(2, 54, dtype=torch.long), torch.zeros(2, 54, dtype=torch.bool), torch.zeros(2, 33, 3))
    >>> out.logits.shape, out.rotation_6d.shape, out.camera.shape
    (torch.Size([2, 54, 512]), torch.Size([2, 6]), torch.Size([2, 3]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from mocap.mega.backbones import BackboneConfig, build_backbone
from mocap.mega.conditioning import (
    NUM_LANDMARKS,
    build_condition_layers,
    image_condition_inputs,
    landmark_condition_inputs,
    pooled_dim,
)
from mocap.mega.geometry import turn_landmark_features, turn_rotation_camera, upright_angle, view_axis_rotation
from mocap.mega.sampling import ArgmaxTokens, argmax_tokens, sample_tokens
from mocap.mega.transformer import Block

CondKind = Literal["none", "landmarks", "image"]


@dataclass(frozen=True)
class MegaConfig:
    """Sizes of a MEGA network. Presets: the three official CVQMAE models, the VQMAE pre-training model,
    our two landmark models (small, and the CPU-sized one that ships) and a tiny one for tests."""

    seq_length: int = 54  # N mesh tokens
    num_embeddings: int = 512  # S codebook entries (= logit classes)
    emb_dim: int = 256  # D transformer width
    encoder_layer: int = 6
    encoder_head: int = 4
    decoder_layer: int = 4
    decoder_head: int = 4
    mlp_ratio: float = 4.0
    cond: CondKind = "landmarks"  # "none" = mesh-only pre-training (no rotation/camera head)
    cond_dim: int = 6  # image: backbone channels C; landmarks: features per landmark (x, y, vis [, world xyz])
    cond_length: int = NUM_LANDMARKS  # conditioning tokens (h * w feature cells, or 33 landmarks)
    backbone: BackboneConfig | None = None  # image path only
    rotcam_dropout: float = 0.5  # official: Dropout(0.5) between the two Linear layers, no nonlinearity
    rotcam_gelu: bool = False  # ours: GELU in those slots instead (same keys .0 and .2)
    upright: bool = False  # ours, landmarks only: turn the input torso upright in the crop (no weights involved)

    @classmethod
    def official_resnet(cls) -> MegaConfig:
        return cls._official(BackboneConfig("resnet50"))

    @classmethod
    def official_hrnet(cls) -> MegaConfig:
        return cls._official(BackboneConfig("hrnet_w48"))

    @classmethod
    def official_vit(cls, cond_length: int = 192) -> MegaConfig:
        """``cond_length`` must match the checkpoint's ``backbone.pos_embed`` (192 = 256 x 192 crops)."""
        size = {192: (256, 192), 196: (224, 224)}.get(cond_length)
        if size is None:
            raise ValueError(f"no known ViT crop gives {cond_length} tokens; use 192 (256x192) or 196 (224x224)")
        return cls._official(BackboneConfig("vit_h", size))

    @classmethod
    def official_pretrained(cls) -> MegaConfig:
        """VQMAE (stage-1 pre-training): same encoder/decoder, no conditioning, no rotation/camera head."""
        return cls(emb_dim=1024, encoder_layer=12, cond="none", cond_dim=0, cond_length=0)

    @classmethod
    def _official(cls, backbone: BackboneConfig) -> MegaConfig:
        return cls(
            emb_dim=1024,
            encoder_layer=12,
            cond="image",
            cond_dim=backbone.out_channels,
            cond_length=backbone.num_tokens,
            backbone=backbone,
        )

    @classmethod
    def anny_landmarks_small(cls) -> MegaConfig:
        """The embedded default: MediaPipe crop + world landmarks, sized for a 2-core CPU."""
        return cls(emb_dim=256, encoder_layer=6, decoder_layer=4, rotcam_dropout=0.1, rotcam_gelu=True, upright=True)

    @classmethod
    def anny_landmarks_cpu(cls) -> MegaConfig:
        """The shipped model: width 128, 4 + 3 layers (1.6 M parameters), ~4x faster than ``anny_landmarks_small``
        per pass on a 2-core CPU (measured in ``models/mega_anny/MODEL_CARD.md``); less capacity."""
        return cls(emb_dim=128, encoder_layer=4, decoder_layer=3, rotcam_dropout=0.1, rotcam_gelu=True, upright=True)

    @classmethod
    def tiny(cls) -> MegaConfig:
        """For tests: same layout, width 32, 2 + 1 layers, 3 features per landmark."""
        return cls(emb_dim=32, encoder_layer=2, encoder_head=2, decoder_layer=1, decoder_head=2, cond_dim=3)


class MegaOutput(NamedTuple):
    """logits (B, N, S); rotation_6d (B, 6) (first two rows of R, pytorch3d convention); camera (B, 3) = (s, tx, ty)
    weak perspective on crop coordinates in [-1, 1]. Rotation and camera are None without conditioning."""

    logits: torch.Tensor
    rotation_6d: torch.Tensor | None
    camera: torch.Tensor | None


class Condition(NamedTuple):
    """Conditioning after embedding: tokens (B, L_c, D) for the decoder, pooled (B, P) for the rotation/camera head,
    and with ``upright`` the turn (B, 3, 3) about the viewing axis that takes the upright view back to the camera's."""

    tokens: torch.Tensor
    pooled: torch.Tensor
    turn: torch.Tensor | None = None


def _blocks(config: MegaConfig, layers: int, heads: int) -> nn.Sequential:
    return nn.Sequential(*[Block(config.emb_dim, heads, config.mlp_ratio) for _ in range(layers)])


def _param(*shape: int) -> nn.Parameter:
    return nn.Parameter(nn.init.trunc_normal_(torch.empty(*shape), std=0.02))


class Encoder(nn.Module):
    """Visible mesh tokens -> features (B, 1 + n_visible, D), cls first."""

    def __init__(self, config: MegaConfig) -> None:
        super().__init__()
        D = config.emb_dim
        self.cls_token = _param(1, 1, D)
        self.pos_embedding = _param(config.seq_length, 1, D)  # (N, 1, D): the reference is sequence-first
        self.proj = nn.Embedding(config.num_embeddings, D)
        self.transformer = _blocks(config, config.encoder_layer, config.encoder_head)
        self.layer_norm = nn.LayerNorm(D)

    def forward(self, ids: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, N) long, visible (B, N) bool with the same count per row -> (features, backward_indexes (B, N))."""
        B = ids.shape[0]
        counts = visible.sum(dim=1)
        num_visible = int(counts[0]) if B else 0
        if bool((counts != num_visible).any()):
            raise ValueError("every row of a batch must have the same number of visible tokens")
        x = self.proj(ids) + self.pos_embedding.transpose(0, 1)  # (B, N, D), positions added before dropping
        forward_indexes = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)  # (B, N) visible first
        backward_indexes = torch.argsort(forward_indexes, dim=1)  # (B, N)
        keep = forward_indexes[:, :num_visible, None].expand(-1, -1, x.shape[-1])  # (B, n, D)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x.gather(1, keep)], dim=1)  # (B, 1 + n, D)
        return self.layer_norm(self.transformer(x)), backward_indexes


class Decoder(nn.Module):
    """Encoder features + mask tokens + conditioning tokens -> logits (B, N, S); pooled conditioning -> rot, cam."""

    def __init__(self, config: MegaConfig) -> None:
        super().__init__()
        D = config.emb_dim
        self.mask_token = _param(1, 1, D)
        self.pos_embedding = _param(config.seq_length + 1, 1, D)  # (1 + N, 1, D): cls slot first
        self.transformer = _blocks(config, config.decoder_layer, config.decoder_head)
        self.head = nn.Linear(D, config.num_embeddings)
        if config.cond != "none":
            between: type[nn.Module] = nn.GELU if config.rotcam_gelu else nn.Identity
            dropout = config.rotcam_dropout
            pooled = pooled_dim(config.cond, config.cond_dim, config.cond_length)
            self.rotcam_head = nn.Sequential(
                nn.Linear(pooled, D), nn.Sequential(between(), nn.Dropout(dropout)),
                nn.Linear(D, D), nn.Sequential(between(), nn.Dropout(dropout)),
            )  # fmt: skip
            self.rot_predictor = nn.Linear(D, 6)
            self.cam_predictor = nn.Linear(D, 3)
            self.cond_emb, self.pos_emb_cond = build_condition_layers(
                config.cond, config.cond_dim, config.cond_length, D
            )

    def forward(
        self, features: torch.Tensor, backward_indexes: torch.Tensor, cond_tokens: torch.Tensor | None
    ) -> torch.Tensor:
        B, N = backward_indexes.shape
        fill = self.mask_token.expand(B, N + 1 - features.shape[1], -1)  # (B, N - n, D)
        x = torch.cat([features, fill], dim=1)  # (B, 1 + N, D): cls, visible, masked
        order = torch.cat([backward_indexes.new_zeros(B, 1), backward_indexes + 1], dim=1)  # (B, 1 + N)
        x = x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))  # (B, 1 + N, D) original order
        x = x + self.pos_embedding.transpose(0, 1)
        if cond_tokens is not None:
            x = torch.cat([cond_tokens, x], dim=1)  # (B, L_c + 1 + N, D)
        *blocks, final = self.transformer
        for block in blocks:
            x = block(x)
        return self.head(final(x, last=N))  # (B, N, S): the head reads the mesh slots only

    def rotcam(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.rotcam_head(pooled)  # (B, D)
        return self.rot_predictor(h), self.cam_predictor(h)


class Mega(nn.Module):
    """The whole network: optional image ``backbone``, ``encoder``, ``decoder``.

    ``forward`` is the training view (one pass); inference splits it: ``condition`` once per crop, then
    ``logits`` per sampling step with the conditioning tokens repeated for K samples, and ``rotcam``.
    """

    def __init__(self, config: MegaConfig) -> None:
        super().__init__()
        if (config.cond == "image") != (config.backbone is not None):
            raise ValueError("the image conditioning needs a backbone config, and only it")
        self.config = config
        if config.backbone is not None:
            self.backbone = build_backbone(config.backbone)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def condition(self, cond: torch.Tensor) -> Condition:
        """Crop images (B, 3, H, W) or landmark features (B, 33, F) -> embedded ``Condition``."""
        turn = None
        if self.config.cond == "image":
            tokens_in, pooled = image_condition_inputs(self.backbone(cond))  # (B, h*w, C), (B, C)
        elif self.config.cond == "landmarks":
            if self.config.upright:
                turn = view_axis_rotation(upright_angle(cond))  # (B, 3, 3) upright view -> camera
                cond = turn_landmark_features(cond, turn.transpose(1, 2))
            tokens_in, pooled = landmark_condition_inputs(cond)  # (B, 33, F), (B, 33 F)
        else:
            raise ValueError("this MEGA has no conditioning (a pre-training model); call logits(ids, visible)")
        return Condition(self.decoder.pos_emb_cond(self.decoder.cond_emb(tokens_in)), pooled, turn)

    def logits(self, ids: torch.Tensor, visible: torch.Tensor, cond_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, N), visible (B, N) bool, conditioning tokens (B, L_c, D) or None -> logits (B, N, S)."""
        features, backward_indexes = self.encoder(ids, visible)
        return self.decoder(features, backward_indexes, cond_tokens)

    def rotcam(self, condition: Condition) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning -> rotation_6d (B, 6) canonical -> camera, crop camera (B, 3), in the camera's own view."""
        rotation_6d, camera = self.decoder.rotcam(condition.pooled)
        if condition.turn is None:
            return rotation_6d, camera
        return turn_rotation_camera(rotation_6d, camera, condition.turn)

    def forward(self, ids: torch.Tensor, visible: torch.Tensor, cond: torch.Tensor | None = None) -> MegaOutput:
        if cond is None:
            if self.config.cond != "none":
                raise ValueError(f"this MEGA is conditioned on {self.config.cond}; pass cond")
            return MegaOutput(self.logits(ids, visible), None, None)
        condition = self.condition(cond)
        return MegaOutput(self.logits(ids, visible, condition.tokens), *self.rotcam(condition))

    @torch.no_grad()
    def argmax(self, cond: torch.Tensor | None, batch: int) -> tuple[ArgmaxTokens, MegaOutput]:
        """Deterministic mode: one pass with every token masked; ids with per-token and per-crop uncertainty."""
        ids = torch.zeros(batch, self.config.seq_length, dtype=torch.long, device=self.encoder.cls_token.device)
        out = self(ids, torch.zeros_like(ids, dtype=torch.bool), cond)
        return argmax_tokens(out.logits), out

    @torch.no_grad()
    def sample(self, cond: torch.Tensor | None, batch: int, num_samples: int = 1, **options: Any) -> torch.Tensor:
        """Stochastic mode: token ids (B, K, N) from ``sample_tokens`` (options: steps, schedule, temperature ...)."""
        tokens = None if cond is None else self.condition(cond).tokens.repeat_interleave(num_samples, 0)
        return sample_tokens(
            lambda ids, visible: self.logits(ids, visible, tokens),
            batch,
            self.config.seq_length,
            num_samples=num_samples,
            device=self.encoder.cls_token.device,
            **options,
        )


def parameter_count(module: nn.Module) -> int:
    """Number of parameters (each shared tensor once)."""
    return sum(p.numel() for p in module.parameters())
