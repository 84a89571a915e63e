"""Mesh-VQ-VAE: a fully convolutional mesh autoencoder whose latent (one vector per token-level
vertex) is quantized into token ids (Fiche et al., VQ-HPS / MEGA).

Input convention: canonical meshes (zero global rotation), vertex-mean centred, metres, shape
(B, V, 3) with V = ``hierarchy.input_size``. When the hierarchy carries a full-resolution map the
network runs on its level 0 (a vertex subset) and the output is upsampled back to the full mesh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.tokenizer.hierarchy import FullResolutionMap, MeshHierarchy
from mocap.tokenizer.layers import FullyConvAE, LayerSpec, neighbour_operator, parse_connection, sparse_matmul
from mocap.tokenizer.quantizer import VectorQuantizerEMA

CHECKPOINT_FORMAT = "mocap-mesh-vqvae-1"


@dataclass(frozen=True)
class MeshVQVAEConfig:
    """Network shape; defaults are the reference "medium" config (14 layers for 4 levels).

    Attributes:
        channels: output channels per layer; the middle one (index n/2 - 1) is the token dim L.
        weight_nums: basis kernels W per conv layer (0 on pure pooling layers).
        residual_rates: r per layer (0 = pure conv, 1 = pure pooling).
        num_embeddings: codebook size S.
        commitment_cost, decay, epsilon: quantizer constants.
        restart_dead_codes: re-seed unused codes during training (off = reference behaviour).
    """

    channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128, 9, 128, 128, 64, 64, 32, 32, 3)
    weight_nums: tuple[int, ...] = (9, 0, 9, 0, 9, 0, 9, 9, 0, 9, 0, 9, 0, 9)
    residual_rates: tuple[float, ...] = (0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0)
    num_embeddings: int = 512
    commitment_cost: float = 0.25
    decay: float = 0.99
    epsilon: float = 1e-5
    restart_dead_codes: bool = False

    @property
    def embedding_dim(self) -> int:
        return self.channels[len(self.channels) // 2 - 1]

    def layer_specs(self, hierarchy: MeshHierarchy) -> list[LayerSpec]:
        names = hierarchy.layer_names
        if not len(names) == len(self.channels) == len(self.weight_nums) == len(self.residual_rates):
            raise ValueError(
                f"config has {len(self.channels)} layers but a {len(hierarchy.level_sizes)}-level hierarchy "
                f"needs {len(names)}"
            )
        specs, in_ch = [], 3
        for name, out_ch, w, r in zip(names, self.channels, self.weight_nums, self.residual_rates, strict=True):
            in_pn, out_pn = hierarchy.in_out_sizes(name)
            specs.append(LayerSpec(name, in_ch, out_ch, in_pn, out_pn, w, float(r)))
            in_ch = out_ch
        return specs


@dataclass(frozen=True)
class TokenizerLoss:
    """Training output: ``loss = v2v + vq_loss``; v2v in metres (mean per-vertex distance)."""

    loss: torch.Tensor
    v2v: torch.Tensor
    vq_loss: torch.Tensor
    perplexity: torch.Tensor
    ids: torch.Tensor
    reconstruction: torch.Tensor


def v2v_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean vertex distance after re-centring the prediction: (B, V, 3) x2 -> scalar (m)."""
    prediction = prediction - prediction.mean(dim=1, keepdim=True)
    return (prediction - target).norm(dim=-1).mean()


class MeshVQVAE(nn.Module):
    """Mesh tokenizer: (B, V, 3) canonical meshes <-> (B, N) token ids.

    Example:
        >>> model = MeshVQVAE(MeshHierarchy.load("hierarchy.npz"), MeshVQVAEConfig()).eval()
        >>> ids = model.encode(vertices)          # (B, 54) int64
        >>> mesh = model.decode(ids)              # (B, V, 3) metres, vertex-mean centred
    """

    full_subset: torch.Tensor  # (V0,) level-0 vertex ids in the full mesh (with a full map only)
    up_ids: torch.Tensor  # (V_full, K)
    up_weights: torch.Tensor  # (V_full, K)

    def __init__(self, hierarchy: MeshHierarchy, config: MeshVQVAEConfig | None = None) -> None:
        super().__init__()
        self.hierarchy = hierarchy
        self.config = config or MeshVQVAEConfig()
        specs = self.config.layer_specs(hierarchy)
        tables = [parse_connection(hierarchy.tables[s.name], s.in_pn) for s in specs]
        self.model = FullyConvAE(specs, tables, n_encoder_layers=len(specs) // 2)
        self.vq_vae = VectorQuantizerEMA(
            self.config.num_embeddings,
            self.config.embedding_dim,
            self.config.commitment_cost,
            self.config.decay,
            self.config.epsilon,
            self.config.restart_dead_codes,
        )
        self._up: torch.Tensor | None = None
        full = hierarchy.full
        if full is not None:
            self.register_buffer("full_subset", torch.from_numpy(full.subset), persistent=False)
            self.register_buffer("up_ids", torch.from_numpy(full.up_ids), persistent=False)
            self.register_buffer("up_weights", torch.from_numpy(full.up_weights).float(), persistent=False)

    @property
    def num_tokens(self) -> int:
        return self.hierarchy.num_tokens

    # -- level-0 <-> input mesh ------------------------------------------------------------------

    def to_level0(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) input meshes -> (B, V0, 3) network input, vertex-mean centred."""
        if vertices.shape[1:] != (self.hierarchy.input_size, 3):
            raise ValueError(
                f"expected meshes of shape (B, {self.hierarchy.input_size}, 3), got {tuple(vertices.shape)}"
            )
        if self.hierarchy.full is not None:
            vertices = vertices[:, self.full_subset]
        return vertices - vertices.mean(dim=1, keepdim=True)

    def from_level0(self, level0: torch.Tensor) -> torch.Tensor:
        """(B, V0, 3) network output -> (B, V, 3) input-resolution mesh, vertex-mean centred."""
        if self.hierarchy.full is not None:
            b, v0, _ = level0.shape
            flat = level0.transpose(0, 1).reshape(v0, b * 3)  # vertex-major (V0, B*3)
            level0 = sparse_matmul(self._up_operator(), flat).view(-1, b, 3).transpose(0, 1)
        return level0 - level0.mean(dim=1, keepdim=True)

    def _up_operator(self) -> torch.Tensor:
        """Sparse (V_full, V0) upsampling matrix, built once per device."""
        if self._up is None or self._up.device != self.up_ids.device:
            self._up = neighbour_operator(self.up_ids, self.up_weights[:, :, None], self.hierarchy.level_sizes[0])
        return self._up

    # -- tokenizer API ---------------------------------------------------------------------------

    def encode_embeddings(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, N, L) continuous latent before quantization."""
        return self.model.encode(self.to_level0(vertices))

    def encode(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) canonical meshes -> (B, N) int64 token ids."""
        return self.vq_vae.nearest(self.encode_embeddings(vertices))

    def decode_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """(B, N, L) latent vectors -> (B, V, 3) meshes."""
        return self.from_level0(self.model.decode(z))

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, N) token ids -> (B, V, 3) meshes (metres, vertex-mean centred)."""
        return self.decode_embeddings(self.vq_vae.lookup(ids))

    def forward(self, vertices: torch.Tensor) -> TokenizerLoss:
        """Training step maths on (B, V, 3) meshes; the loss is measured on level 0 (cheap)."""
        target = self.to_level0(vertices)
        quantized = self.vq_vae(self.model.encode(target))
        reconstruction = self.model.decode(quantized.z_q)
        v2v = v2v_error(reconstruction, target)
        return TokenizerLoss(
            loss=v2v + quantized.loss,
            v2v=v2v,
            vq_loss=quantized.loss,
            perplexity=quantized.perplexity,
            ids=quantized.ids,
            reconstruction=reconstruction,
        )

    # -- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, half: bool = False, **extra: Any) -> dict[str, Any]:
        """A self-contained dict (config, hierarchy, weights) for ``torch.save``; ``half`` stores
        the conv weights as float16 (codebook and EMA statistics stay float32)."""
        state = {}
        for key, value in self.state_dict().items():
            keep32 = key.startswith("vq_vae.") or not value.is_floating_point()
            state[key] = value if keep32 or not half else value.half()
        h = self.hierarchy
        hierarchy: dict[str, Any] = {"level_sizes": list(h.level_sizes)}
        hierarchy["tables"] = {name: torch.from_numpy(t.astype(np.int32)) for name, t in h.tables.items()}
        if h.full is not None:
            hierarchy["full"] = {
                "subset": torch.from_numpy(h.full.subset),
                "up_ids": torch.from_numpy(h.full.up_ids),
                "up_weights": torch.from_numpy(h.full.up_weights),
            }
        if h.faces is not None:
            hierarchy["faces"] = torch.from_numpy(h.faces)
        return {"format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(self.config), "hierarchy": hierarchy,
                "model": state, **extra}  # fmt: skip

    def save(self, path: str | Path, half: bool = False, **extra: Any) -> None:
        """Write the checkpoint atomically (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.checkpoint(half=half, **extra), tmp)
        tmp.replace(path)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> MeshVQVAE:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"not a mocap Mesh-VQ-VAE checkpoint (format {checkpoint.get('format')!r}); "
                "official mesh_vqvae_54 files load with mocap.tokenizer.official.load_official()"
            )
        h = checkpoint["hierarchy"]
        full = None
        if "full" in h:
            f = h["full"]
            full = FullResolutionMap(f["subset"].numpy(), f["up_ids"].numpy(), f["up_weights"].numpy())
        faces = h["faces"].numpy() if "faces" in h else None
        tables = {name: t.numpy() for name, t in h["tables"].items()}
        hierarchy = MeshHierarchy(tuple(h["level_sizes"]), tables, full, faces)
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint["config"].items()}
        config = MeshVQVAEConfig(**fields)
        model = cls(hierarchy, config)
        state = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise CheckpointError(
                f"checkpoint does not match its own config: missing {result.missing_keys}, "
                f"unexpected {result.unexpected_keys}; re-save it with MeshVQVAE.save()"
            )
        return model

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> MeshVQVAE:
        """Load a checkpoint written by :meth:`save` (``weights_only=True``), in eval mode."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(
                f"tokenizer checkpoint {path} not found; the embedded one is models/tokenizer_anny/tokenizer.pt, "
                "or train one with `mocap train tokenizer --out DIR`"
            )
        # Read on the CPU whatever the target: the mesh hierarchy is rebuilt from numpy, then the model moves.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return cls.from_checkpoint(checkpoint).to(map_location).eval()
