"""MEGA: masked generative modelling of mesh tokens, conditioned on landmarks (embedded) or images (official).

Modules: ``model`` (Mega, MegaConfig), ``conditioning``, ``backbones``, ``transformer``, ``schedules``,
``sampling`` (the one decoding loop), ``predictor`` (the pipeline stage Crops -> TokenPredictions),
``official`` (strict loading of the Zenodo 14974141 checkpoints), ``train`` (losses, resumable Trainer),
``synthetic`` (landmark crops for training), ``data`` and ``recipe`` (real-data training of the embedded model).
"""

from __future__ import annotations

from mocap.mega.model import Condition, Mega, MegaConfig, MegaOutput
from mocap.mega.official import load_official
from mocap.mega.predictor import MegaPredictor, SamplingConfig
from mocap.mega.sampling import ArgmaxTokens, argmax_tokens, sample_tokens, vertex_uncertainty
from mocap.mega.schedules import arccos, cosine, linear
from mocap.mega.train import load_trained

__all__ = [
    "ArgmaxTokens",
    "Condition",
    "Mega",
    "MegaConfig",
    "MegaOutput",
    "MegaPredictor",
    "SamplingConfig",
    "arccos",
    "argmax_tokens",
    "cosine",
    "linear",
    "load_official",
    "load_trained",
    "sample_tokens",
    "vertex_uncertainty",
]
