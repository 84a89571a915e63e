"""The official SMPL-H Mesh-VQ-VAE (``mesh_vqvae_54``): 6890 -> 1925 -> 400 -> 54 vertices.

The user brings two things we never ship: the MeshConvolution ``dfaust2`` connection files
(``_pool0.npy`` .. ``_unpool6.npy``) and the checkpoint (Zenodo record 14974141,
``MESH_VQVAE/mesh_vqvae_54``). The checkpoint is ``dict(model=state_dict, ...)`` in which the one
autoencoder appears twice (``encoder.model.*`` and ``decoder.model.*``, the same tensors), beside
``vq_vae._embedding.weight``, ``vq_vae._ema_w`` and ``vq_vae._ema_cluster_size``; a DDP run adds a
``module.`` prefix. Loading is strict: every key must be accounted for, shapes must match, and the
two copies must be equal.

Example:
    >>> model = load_official("checkpoint/MESH_VQVAE/mesh_vqvae_54", "body_models/ConnectionMatrices")
    >>> ids = model.encode(smplh_vertices)   # (B, 6890, 3) canonical, centred -> (B, 54)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.tokenizer.hierarchy import MeshHierarchy
from mocap.tokenizer.model import MeshVQVAE, MeshVQVAEConfig

SMPLH_VERTICES = 6890
OFFICIAL_CONFIG = MeshVQVAEConfig()  # the reference "medium" config
_AE_PREFIXES = ("encoder.model.", "decoder.model.")
_WHERE = (
    "get it from the MeshConvolution repository (github.com/papagina/MeshConvolution), folder "
    "train/0223_GraphAE27_compare/connections/dfaust2/ (the 'dfaust' folder is the wrong one: it has only "
    "pool0-3), and pass that folder (the reference calls it body_models/ConnectionMatrices/)"
)


def official_hierarchy(folder: str | Path, num_vertices: int = SMPLH_VERTICES) -> MeshHierarchy:
    """Read the ``dfaust2`` connection files; level sizes come from the files themselves.

    Raises:
        ModelNotFoundError: a file is missing (the message says where to get it).
        CheckpointError: the files do not describe a ``num_vertices`` mesh.
    """
    folder = Path(folder)
    levels = (len(OFFICIAL_CONFIG.channels) + 2) // 4  # 14 layers <-> 4 levels
    names = [f"pool{i}" for i in range(2 * levels - 1)] + [f"unpool{i}" for i in range(2 * levels - 2, -1, -1)]
    tables = {}
    for name in names:
        path = folder / f"_{name}.npy"
        if not path.is_file():
            raise ModelNotFoundError(f"MeshConvolution connection file {path} not found; {_WHERE}")
        tables[name] = np.load(path, allow_pickle=False)
    sizes = (len(tables["pool0"]), *(len(tables[f"pool{2 * k + 1}"]) for k in range(levels - 1)))
    if sizes[0] != num_vertices:
        raise CheckpointError(f"{folder}/_pool0.npy is for a {sizes[0]}-vertex mesh, not {num_vertices}; {_WHERE}")
    return MeshHierarchy(sizes, tables)


def to_official_state_dict(model: MeshVQVAE) -> dict[str, torch.Tensor]:
    """Our state dict in the official key layout (both AE copies), e.g. to write test checkpoints."""
    official: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if key.startswith("model."):
            for prefix in _AE_PREFIXES:
                official[prefix + key.removeprefix("model.")] = value.clone()
        else:
            official[key] = value.clone()
    return official


def from_official_state_dict(state: Mapping[str, torch.Tensor], model: MeshVQVAE) -> dict[str, torch.Tensor]:
    """Map an official state dict onto ``model``'s keys, strictly.

    Strips ``module.``, merges the ``encoder.model.*`` / ``decoder.model.*`` copies after checking
    they are equal, and raises :class:`CheckpointError` listing missing keys, unexpected keys, shape
    mismatches and differing duplicates.
    """
    expected = model.state_dict()
    state = {k.removeprefix("module."): v for k, v in state.items()}
    ours: dict[str, torch.Tensor] = {}
    unexpected, differing, mismatched = [], [], []
    for key, value in state.items():
        prefix = next((p for p in _AE_PREFIXES if key.startswith(p)), None)
        target = "model." + key.removeprefix(prefix) if prefix else key
        if target not in expected or (prefix is None and target.startswith("model.")):
            unexpected.append(key)
        elif value.shape != expected[target].shape:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)}, network {tuple(expected[target].shape)}")
        elif target in ours and not torch.equal(ours[target], value):
            differing.append(target.removeprefix("model."))
        else:
            ours[target] = value
    missing = [k for k in _official_keys(expected) if k not in state]
    if missing or unexpected or mismatched or differing:
        raise CheckpointError(
            "checkpoint does not match the official Mesh-VQ-VAE (medium config, dfaust2 hierarchy):"
            + _listing("missing keys", missing)
            + _listing("unexpected keys", unexpected)
            + _listing("shape mismatches", mismatched)
            + _listing("encoder/decoder copies that differ", differing)
            + "\nIs it MESH_VQVAE/mesh_vqvae_54 from Zenodo 14974141, with the dfaust2 connection files?"
        )
    return ours


def load_official(
    checkpoint: str | Path, connection_folder: str | Path, num_vertices: int = SMPLH_VERTICES
) -> MeshVQVAE:
    """Build the official network from the connection files and load ``mesh_vqvae_54`` strictly (eval mode)."""
    hierarchy = official_hierarchy(connection_folder, num_vertices)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ModelNotFoundError(
            f"Mesh-VQ-VAE checkpoint {checkpoint} not found; download MESH_VQVAE/mesh_vqvae_54 from "
            "https://zenodo.org/records/14974141 (MEGA) and pass its path"
        )
    content: Any = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = content["model"] if isinstance(content, dict) and "model" in content else content
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{checkpoint} holds no state dict (expected dict(model=state_dict, ...))")
    model = MeshVQVAE(hierarchy, OFFICIAL_CONFIG)
    model.load_state_dict(from_official_state_dict(state, model), strict=True)
    return model.eval()


def _official_keys(expected: Mapping[str, torch.Tensor]) -> list[str]:
    keys = []
    for key in expected:
        if key.startswith("model."):
            keys += [prefix + key.removeprefix("model.") for prefix in _AE_PREFIXES]
        else:
            keys.append(key)
    return keys


def _listing(title: str, items: list[str], limit: int = 12) -> str:
    if not items:
        return ""
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"\n  {title} ({len(items)}): " + ", ".join(items[:limit]) + more
