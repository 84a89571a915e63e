"""Which device the networks run on: `auto` picks what this torch sees, and a device it lacks names the fix."""

from __future__ import annotations

import pytest
import torch

from mocap.devices import resolve_device
from mocap.errors import ConfigError


def test_auto_is_a_gpu_when_torch_sees_one_else_the_cpu() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_this_torch_cannot_see_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="--device cpu"):
        resolve_device("cuda")


def test_a_gpu_index_past_the_last_one_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "meta"])
def test_unknown_devices_say_which_ones_work(name: str) -> None:
    with pytest.raises(ConfigError, match="cpu"):
        resolve_device(name)
