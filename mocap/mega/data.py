"""Batch sources for MEGA training from real data: mocap poses on random Anny bodies, tokenized on the fly.

``MeshTokenSource(step)`` draws canonical meshes (zero global orientation, vertex-mean centred, metres; Anny's
z-up frame) from a mesh sampler, tokenizes them with a frozen Mesh-VQ-VAE and, for conditioned training, turns
their 33 BlazePose landmarks into synthetic detector crops (``synthetic.synthesize_landmarks``). Every batch is
seeded by ``(seed, step)`` so a resumed run sees the same data.

Example:
    >>> source = MeshTokenSource(motion_mesh_sampler(), MeshVQVAE.load(path), batch_size=32)  # doctest: +SKIP
    >>> batch = source(0)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from mocap.mega.synthetic import LandmarkSynthesis, synthesize_landmarks
from mocap.mega.train import KeypointDecoder, TokenGeometry, TrainingBatch
from mocap.motion.splits import Split

if TYPE_CHECKING:
    from mocap.tokenizer.model import MeshVQVAE

# (n, rng) -> (n, V, 3) float32 canonical meshes
MeshSampler = Callable[[int, np.random.Generator], torch.Tensor]
Tokenizer = Callable[[torch.Tensor], torch.Tensor]  # (B, V, 3) meshes -> (B, N) ids
LandmarkRegressor = Callable[[torch.Tensor], torch.Tensor]  # (B, V, 3) -> (B, 33, 3), same frame


class MeshTokenSource:
    """A ``BatchSource``: step -> ``TrainingBatch`` of tokenized canonical meshes (+ synthetic landmark crops)."""

    def __init__(
        self,
        sample_meshes: MeshSampler,
        tokenize: Tokenizer,
        batch_size: int,
        landmarks: LandmarkRegressor | None = None,
        synthesis: LandmarkSynthesis | None = None,
        seed: int = 0,
    ) -> None:
        self.sample_meshes, self.tokenize, self.landmarks = sample_meshes, tokenize, landmarks
        self.batch_size, self.seed = batch_size, seed
        self.synthesis = synthesis or LandmarkSynthesis()

    @torch.no_grad()
    def __call__(self, step: int) -> TrainingBatch:
        rng = np.random.default_rng([self.seed, step])
        meshes = self.sample_meshes(self.batch_size, rng)  # (B, V, 3)
        ids = self.tokenize(meshes)  # (B, N)
        if self.landmarks is None:
            return TrainingBatch(ids)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return synthesize_landmarks(ids, self.landmarks(meshes), generator, self.synthesis)


def motion_mesh_sampler(split: Split = "train", limb_mix: float = 0.0) -> MeshSampler:
    """Canonical Anny meshes of random frames of the motion dataset's ``split`` on random phenotypes, each limb
    another frame's with probability ``limb_mix`` (``MotionDataset.sample_canonical_meshes``)."""
    from mocap.motion.dataset import MotionDataset

    dataset = MotionDataset.load()

    def sample(n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(dataset.sample_canonical_meshes(split, n, rng, limb_mix))

    return sample


def anny_landmarks() -> LandmarkRegressor:
    """The 33 BlazePose landmarks of full-resolution Anny meshes (the shipped sparse regressor)."""
    from mocap.body.landmarks import regress_landmarks

    return regress_landmarks


def decoded_landmarks(decode: Callable[[torch.Tensor], torch.Tensor], landmarks: LandmarkRegressor) -> KeypointDecoder:
    """ids (B, N) -> landmarks (B, 33, 3) of the decoded mesh: the reference-style reprojection target shape."""

    def keypoints(ids: torch.Tensor) -> torch.Tensor:
        return landmarks(decode(ids))

    return keypoints


def token_geometry(tokenizer: MeshVQVAE, device: torch.device) -> TokenGeometry:
    """The geometric loss's view of a frozen tokenizer: its codebook and code embeddings -> 33 landmarks, on
    ``device`` (a copy: the batch source keeps tokenizing on the CPU)."""
    from mocap.body.landmarks import regress_landmarks

    frozen = copy.deepcopy(tokenizer).to(device).eval().requires_grad_(False)
    return TokenGeometry(frozen.vq_vae.codebook.detach(), lambda z: regress_landmarks(frozen.decode_embeddings(z)))
