"""Which torch device the networks run on: one rule for ``mocap run`` and ``mocap train``."""

from __future__ import annotations

import torch

from mocap.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch spells it, checked to exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"--device {name!r} is not a device torch knows: use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(
            f"--device {name}: this torch sees {torch.cuda.device_count()} CUDA device(s); use --device cpu, "
            "or install a CUDA build of torch on a machine with an NVIDIA GPU"
        )
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name}: only cpu and cuda are supported")
    return device
