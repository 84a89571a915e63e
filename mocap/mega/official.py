"""Load the released MEGA checkpoints (Zenodo record 14974141) with strict key checking.

The files are ``torch.save(dict(model=state_dict, optimizer=..., epoch=..., ...))`` without extension, under
``<checkpoint_dir>/CVQMAE/mega_{resnet,hrnet,vit}`` and ``<checkpoint_dir>/VQMAE/mega_pretrained``. Keys may carry a
DDP ``module.`` prefix. The reference loads with ``strict=False`` and never notices a mismatch; we list every
missing, unexpected and mis-shaped key instead. The user downloads the files; nothing here touches the network.

Example:
    >>> model = load_official("hrnet", Path("checkpoint"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.mega.conditioning import SinusoidalPositionalEncoding, sinusoid_table
from mocap.mega.model import Mega, MegaConfig

log = logging.getLogger(__name__)

ZENODO_RECORD = "14974141"
ZENODO_URL = f"https://zenodo.org/records/{ZENODO_RECORD}"
OfficialName = Literal["resnet", "hrnet", "vit", "pretrained"]
OFFICIAL_FILES: dict[str, str] = {
    "resnet": "CVQMAE/mega_resnet",
    "hrnet": "CVQMAE/mega_hrnet",
    "vit": "CVQMAE/mega_vit",
    "pretrained": "VQMAE/mega_pretrained",
}
_SHOWN = 12  # keys listed per category in an error message


def official_path(name: OfficialName, checkpoint_dir: Path) -> Path:
    """Where the released file ``name`` is expected; ``ModelNotFoundError`` (with the fix) when absent."""
    if name not in OFFICIAL_FILES:
        raise ValueError(f"unknown official MEGA {name!r}; choose one of {sorted(OFFICIAL_FILES)}")
    path = Path(checkpoint_dir) / OFFICIAL_FILES[name]
    if not path.is_file():
        raise ModelNotFoundError(
            f"official MEGA checkpoint {path} not found. Download the checkpoint folder of Zenodo record "
            f"{ZENODO_RECORD} ({ZENODO_URL}) and pass its root, so that {OFFICIAL_FILES[name]} lies under it."
        )
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of a MEGA training checkpoint (or a bare state dict), ``module.`` stripped."""
    # Training checkpoints may hold numpy scalars (metrics); allow exactly those, nothing executable.
    core = np._core if hasattr(np, "_core") else np.core  # numpy 2 renamed the module pickles refer to
    numpy_scalars = [core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in (np.float64, np.float32, np.int64))]
    try:
        with torch.serialization.safe_globals(numpy_scalars):
            checkpoint: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({error}); re-download it") from error
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path} holds no 'model' state dict; expected a MEGA checkpoint from Zenodo {ZENODO_RECORD}"
        )
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_strict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint", assign: bool = False
) -> None:
    """``model.load_state_dict(state, strict=True)`` with one ``CheckpointError`` naming every bad key."""
    expected = model.state_dict()  # non-persistent buffers (the sinusoidal code) are not in it
    transient = {
        f"{prefix}.{name}".lstrip(".")
        for prefix, module in model.named_modules()
        for name in module._non_persistent_buffers_set
    }
    state = {k: v for k, v in state.items() if k not in transient}  # a file that saved them anyway still fits
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if state[k].shape != expected[k].shape
    )
    problems = [
        (label, keys)
        for label, keys in [("missing", missing), ("unexpected", unexpected), ("shape", mismatched)]
        if keys
    ]
    if problems:
        parts = []
        for label, keys in problems:
            shown = ", ".join(keys[:_SHOWN]) + (f", ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")
            parts.append(f"{len(keys)} {label} key(s): {shown}")
        raise CheckpointError(
            f"{source} does not match {type(model).__name__}: " + "; ".join(parts)
            + ". Check that the file and the chosen model (resnet/hrnet/vit/pretrained) agree."
        )  # fmt: skip
    model.load_state_dict(state, strict=True, assign=assign)


def config_for(name: OfficialName, state: Mapping[str, torch.Tensor]) -> MegaConfig:
    """The config of an official file; the ViT's token count comes from its ``backbone.pos_embed``."""
    if name == "resnet":
        return MegaConfig.official_resnet()
    if name == "hrnet":
        return MegaConfig.official_hrnet()
    if name == "pretrained":
        return MegaConfig.official_pretrained()
    pos_embed = state.get("backbone.pos_embed")
    if pos_embed is None:
        raise CheckpointError("the ViT checkpoint has no backbone.pos_embed; is it mega_vit?")
    try:
        return MegaConfig.official_vit(cond_length=pos_embed.shape[1] - 1)
    except ValueError as error:
        raise CheckpointError(f"backbone.pos_embed {tuple(pos_embed.shape)}: {error}") from error


def load_official(name: OfficialName, checkpoint_dir: Path, config: MegaConfig | None = None) -> Mega:
    """Build the official MEGA ``name`` and load its released weights strictly; returns it in eval mode.

    ``config`` overrides the preset (tests pass the official layout at reduced width).
    """
    path = official_path(name, checkpoint_dir)
    state = read_state_dict(path)
    with torch.device("meta"):  # no random init of up to 837 M parameters that the file overwrites
        model = Mega(config or config_for(name, state))
    load_strict(model, state, source=str(path), assign=True)
    for module in model.modules():  # non-persistent buffers are not in the file: rebuild them for real
        if isinstance(module, SinusoidalPositionalEncoding):
            module.pe = sinusoid_table(*module.pe.shape)
    log.info("loaded official MEGA %s from %s", name, path)
    return model.eval()
