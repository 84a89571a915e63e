"""A learned model of MediaPipe's 3-D world landmarks, so that the lifter's synthetic crops carry its errors.

Why: on renders MediaPipe's world landmarks miss the truth by ~128 mm (12 body joints, hip-centred), and most of that
miss is systematic: a small network that reads only the true landmarks predicts MediaPipe's answer within ~53 mm on
new renders (models/lifter_anny/MODEL_CARD.md, "World-landmark model"). The lifter's synthetic crops used to carry
the truth plus 3 cm of noise as their world landmarks, so on them the lifter learned to copy its input, and it
learned to correct MediaPipe only on the few thousand poses that were rendered. With this model every synthetic crop
of every train motion carries MediaPipe-like world landmarks: the model's answer plus a residual drawn from a
Gaussian (full 99 x 99 covariance) fitted to its misses on held-out renders.

Frames: landmarks (B, 33, 3) in metres, camera orientation (x right, y down, z forward), hip-centred (the mean of
BlazePose 23 and 24), as ``RenderedExamples.cond[..., 3:]`` holds MediaPipe's.

Example:
    >>> model, metrics = fit_world_model([RenderedExamples.load_folder(p) for p in folders])  # doctest: +SKIP
    >>> world_m = model.sample(truth_m, torch.Generator().manual_seed(0))  # (B, 33, 3)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from mocap.body.symmetry import mirror_landmarks
from mocap.errors import ModelNotFoundError
from mocap.mega.evaluate import joint_errors_mm
from mocap.mega.geometry import HIPS
from mocap.mega.rendered import RenderedExamples, body_joints_camera
from mocap.mega.train import lr_factor

FEATURES = 33 * 3


@dataclass(frozen=True)
class WorldModelConfig:
    """An MLP: 99 true coordinates -> ``width`` -> ``width`` -> 99 (MediaPipe's answer minus the truth)."""

    width: int = 512


class WorldModel(nn.Module):
    residual_cholesky_m: torch.Tensor

    def __init__(self, config: WorldModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or WorldModelConfig()
        w = self.config.width
        self.net = nn.Sequential(nn.Linear(FEATURES, w), nn.GELU(), nn.Linear(w, w), nn.GELU(), nn.Linear(w, FEATURES))
        # Lower-triangular factor of the residual covariance (99, 99), metres: set by ``fit_world_model``.
        self.register_buffer("residual_cholesky_m", torch.zeros(FEATURES, FEATURES))

    def forward(self, truth_m: torch.Tensor) -> torch.Tensor:
        """(B, 33, 3) true landmarks -> (B, 33, 3) MediaPipe's expected world landmarks, hip-centred."""
        answer = truth_m + self.net(truth_m.flatten(1)).view(-1, 33, 3)
        return answer - answer[:, HIPS].mean(dim=1, keepdim=True)

    @torch.no_grad()
    def sample(self, truth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, 33, 3) true landmarks -> (B, 33, 3) one draw of MediaPipe-like world landmarks, hip-centred."""
        noise = torch.randn(len(truth_m), FEATURES, generator=generator) @ self.residual_cholesky_m.T
        drawn = self(truth_m) + noise.view(-1, 33, 3)
        return drawn - drawn[:, HIPS].mean(dim=1, keepdim=True)


def truth_and_world(examples: RenderedExamples) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The examples' true landmarks in camera orientation and MediaPipe's world landmarks, both (M, 33, 3) and
    hip-centred, each pair also seen in a mirror (2M rows: MediaPipe answers a mirrored image in mirror). Rows
    without world landmarks (NaN) are left out."""
    truth = body_joints_camera(examples.rotation_6d, examples.keypoints_canonical_m)
    world = np.asarray(examples.cond[..., 3:], np.float32)
    measured = np.isfinite(world).all(axis=(1, 2))
    truth, world = truth[measured], world[measured]
    truth, world = np.concatenate([truth, mirror_landmarks(truth)]), np.concatenate([world, mirror_landmarks(world)])
    centred = [a - a[:, HIPS].mean(axis=1, keepdims=True) for a in (truth, world)]
    return centred[0].astype(np.float32), centred[1].astype(np.float32)


def body_miss_mm(a_m: npt.NDArray[np.floating], b_m: npt.NDArray[np.floating]) -> float:
    """MPJPE (mm) between two landmark sets (M, 33, 3) at the 12 body joints, hip-centred."""
    return float(joint_errors_mm(a_m, b_m)["mpjpe"].mean())


def fit_world_model(
    parts: list[RenderedExamples],
    steps: int = 6000,
    seed: int = 0,
    held_out: float = 0.1,
    config: WorldModelConfig | None = None,
    batch_size: int = 256,
    lr: float = 1e-3,
) -> tuple[WorldModel, dict[str, Any]]:
    """Fit the model on detector-measured renders: the last ``held_out`` share of rows (whole clips but one, as the
    shards are in clip order) is kept out, and the residual covariance is measured there, so the drawn noise is as
    large as the model's misses on new poses. Returns the model and its figures (mm, 12 body joints)."""
    truth, world = truth_and_world(RenderedExamples.join(parts))
    half = len(truth) // 2  # rows [half:] are the mirror images of rows [:half]: split both halves alike
    cut = int(round(half * (1 - held_out)))
    fit_rows = np.r_[0:cut, half : half + cut]
    out_rows = np.r_[cut:half, half + cut : 2 * half]
    if len(out_rows) < 2 * FEATURES:
        raise ValueError(f"{len(out_rows)} held-out rows cannot measure a {FEATURES}-dim covariance: give more renders")
    torch.manual_seed(seed)
    model = WorldModel(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    x, y = torch.from_numpy(truth[fit_rows]), torch.from_numpy(world[fit_rows])
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        for group in optimiser.param_groups:
            group["lr"] = lr * lr_factor(step, min(300, steps // 10), steps)
        rows = torch.randint(len(x), (batch_size,), generator=generator)
        loss = (model(x[rows]) - y[rows]).norm(dim=-1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(truth[out_rows])).numpy()
    residual = (world[out_rows] - expected).reshape(len(out_rows), FEATURES).astype(np.float64)
    covariance = np.cov(residual, rowvar=False) + 1e-8 * np.eye(FEATURES)
    model.residual_cholesky_m.copy_(torch.from_numpy(np.linalg.cholesky(covariance)).float())
    drawn = model.sample(torch.from_numpy(truth[out_rows]), torch.Generator().manual_seed(seed)).numpy()
    metrics = {
        "rows_fitted": len(fit_rows),
        "rows_held_out": len(out_rows),
        "mediapipe_vs_truth_mm": round(body_miss_mm(world[out_rows], truth[out_rows]), 1),
        "model_vs_mediapipe_mm": round(body_miss_mm(expected, world[out_rows]), 1),
        "model_vs_truth_mm": round(body_miss_mm(expected, truth[out_rows]), 1),
        "drawn_vs_truth_mm": round(body_miss_mm(drawn, truth[out_rows]), 1),
    }
    return model, metrics


def save_world_model(model: WorldModel, path: Path, metadata: dict[str, Any] | None = None) -> None:
    """Float32 weights + config + ``metadata`` (the command and figures that made it), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"config": asdict(model.config), "state": model.state_dict(), "metadata": metadata or {}}, partial)
    partial.replace(path)


def load_world_model(path: Path) -> WorldModel:
    if not Path(path).exists():
        raise ModelNotFoundError(
            f"no world-landmark model at {path}: make one with `mocap train world-model --renders FOLDER... "
            f"--out {path}`"
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = WorldModel(WorldModelConfig(**saved["config"]))
    model.load_state_dict(saved["state"])
    return model.eval()
