"""Where the embedded default models live, and loading them.

The trained Anny tokenizer and landmark MEGA are committed under the repository's ``models/``
folder, which the wheel installs as the package ``mocap.weights`` (see pyproject.toml), so a
fresh ``pip install`` has them with no download. ``MOCAP_MODELS_DIR`` points elsewhere
(e.g. a newer training run).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mocap.errors import ModelNotFoundError

if TYPE_CHECKING:
    import torch

    from mocap.lifter.model import Lifter
    from mocap.mega.model import Mega
    from mocap.mesh.spread import SpreadPrior
    from mocap.tokenizer.model import MeshVQVAE

TOKENIZER = "tokenizer_anny/tokenizer.pt"
MEGA = "mega_anny/mega.pt"
SPREAD = "mega_anny/spread_prior.npz"  # fitted to MEGA + tokenizer by `mocap train spread`
LIFTER = "lifter_anny/lifter.pt"


def models_dir() -> Path:
    """The folder holding the default models: $MOCAP_MODELS_DIR, the installed package, or the checkout."""
    if override := os.environ.get("MOCAP_MODELS_DIR"):
        return Path(override)
    spec = importlib.util.find_spec("mocap.weights")  # a data-only package: models/ mapped in setup.py
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return Path(__file__).resolve().parents[2] / "models"  # a checkout used without installing


def model_path(name: str) -> Path:
    """Path of a default model file, or ``ModelNotFoundError`` naming how to get it."""
    path = models_dir() / name
    if not path.is_file():
        raise ModelNotFoundError(
            f"model file {path} is missing: reinstall mocap (`pip install -e .` from a full checkout ships it), "
            f"or set MOCAP_MODELS_DIR to a folder holding {name} (train one with `mocap train`)"
        )
    return path


def model_ids() -> dict[str, str]:
    """Name -> "file sha256[:12]" of the default models, recorded in every store's attrs."""
    ids = {}
    named = (("tokenizer_anny", TOKENIZER), ("mega_anny", MEGA), ("spread_prior", SPREAD), ("lifter_anny", LIFTER))
    for key, name in named:
        digest = hashlib.sha256(model_path(name).read_bytes()).hexdigest()[:12]
        ids[key] = f"{name} sha256:{digest}"
    return ids


@dataclass
class MeshModels:
    """The tokenizer, MEGA, their spread prior (None only while ``mocap train spread`` fits it) and the joint
    lifter, loaded once."""

    tokenizer: MeshVQVAE
    mega: Mega
    lifter: Lifter
    spread: SpreadPrior | None = None

    @classmethod
    def load_default(cls, device: str | torch.device = "cpu", spread: bool = True) -> MeshModels:
        """The shipped models on ``device``: "cpu", "cuda", "cuda:1" (``mocap.devices.resolve_device`` reads "auto")."""
        from mocap.lifter.model import load_lifter
        from mocap.mega.train import load_trained
        from mocap.mesh.spread import SpreadPrior
        from mocap.tokenizer.model import MeshVQVAE

        tokenizer = MeshVQVAE.load(model_path(TOKENIZER), map_location=device).eval()
        mega = load_trained(model_path(MEGA)).to(device).eval()
        lifter = load_lifter(model_path(LIFTER)).to(device)
        prior = SpreadPrior.load(model_path(SPREAD)) if spread else None
        return cls(tokenizer=tokenizer, mega=mega, lifter=lifter, spread=prior)

    @property
    def device(self) -> torch.device:
        """Where the networks run (all three on one device); their inputs go there, answers come back to the CPU."""
        return next(self.mega.parameters()).device
