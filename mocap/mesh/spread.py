"""The spread a crop's K samples would likely show, estimated from its argmax pass alone.

The smoother weights every frame by its mesh's spread, and renders colour the mesh by it, but the
sampling policy samples only doubtful crops. The others get a ``SpreadPrior``, fitted once per model on
validation renders (``mocap train spread``):

- the frame's mean vertex spread: a line in the argmax pass's cheap uncertainty (mean token entropy),
  ``intercept_m + slope_m * u``, clipped at 0;
- how it falls on the vertices: the mean over the fitting crops of each crop's spread divided by its own
  mean (the limbs doubt more than the torso), so the estimate's vertex mean is the line's value.

Example:
    >>> prior = SpreadPrior(-0.03, 0.2, np.ones(4, np.float32))
    >>> prior.estimate_m(np.array([0.4])).round(3)
    array([[0.05, 0.05, 0.05, 0.05]], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from mocap.errors import CheckpointError

if TYPE_CHECKING:
    from mocap.mega.predictor import MegaPredictor
    from mocap.tokenizer.model import MeshVQVAE
    from mocap.types import Crops

FORMAT = "mocap-spread-prior-1"


@dataclass(frozen=True)
class SpreadPrior:
    """intercept_m, slope_m: the line from the cheap uncertainty to the mean vertex spread (metres).
    pattern: (V,) float32 relative spread per vertex, mean 1."""

    intercept_m: float
    slope_m: float
    pattern: npt.NDArray[np.float32]

    def mean_m(self, uncertainty: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(N,) cheap uncertainty in [0, 1] -> (N,) estimated mean vertex spread, metres, >= 0."""
        line = self.intercept_m + self.slope_m * np.asarray(uncertainty, np.float64)
        return np.maximum(line, 0.0).astype(np.float32)

    def estimate_m(self, uncertainty: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(N,) cheap uncertainty -> (N, V) estimated per-vertex spread, metres."""
        return self.mean_m(uncertainty)[:, None] * self.pattern[None, :]

    def save(self, path: Path) -> None:
        np.savez(
            path,
            format=np.array(FORMAT),
            intercept_m=np.float64(self.intercept_m),
            slope_m=np.float64(self.slope_m),
            pattern=self.pattern.astype(np.float16),  # relative values: 3 significant digits are plenty
        )

    @classmethod
    def load(cls, path: Path) -> SpreadPrior:
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise ValueError(f"format {data['format']}, expected {FORMAT}")
                return cls(float(data["intercept_m"]), float(data["slope_m"]), data["pattern"].astype(np.float32))
        except (OSError, KeyError, ValueError) as error:
            raise CheckpointError(
                f"cannot read the spread prior {path} ({error}); refit it with `mocap train spread`"
            ) from error


def fit_spread_prior(uncertainty: npt.ArrayLike, vertex_spread_m: npt.ArrayLike) -> SpreadPrior:
    """Least-squares line and mean relative pattern from M crops: cheap uncertainty (M,), sampled spread (M, V) m."""
    u = np.asarray(uncertainty, np.float64)
    spread = np.asarray(vertex_spread_m, np.float64)
    mean = spread.mean(axis=1)  # (M,)
    (intercept, slope), *_ = np.linalg.lstsq(np.stack([np.ones_like(u), u], axis=1), mean, rcond=None)
    pattern = (spread / np.maximum(mean, 1e-9)[:, None]).mean(axis=0)
    return SpreadPrior(float(intercept), float(slope), (pattern / pattern.mean()).astype(np.float32))


def fit_summary(uncertainty: npt.ArrayLike, vertex_spread_m: npt.ArrayLike, prior: SpreadPrior) -> dict[str, float]:
    """How well ``prior`` fits M crops (cheap uncertainty (M,), sampled spread (M, V) m): its line, Pearson r and
    RMS residual (mm) of the mean spread."""
    u, mean = np.asarray(uncertainty, np.float64), np.asarray(vertex_spread_m, np.float64).mean(axis=1)
    return {
        "intercept_m": round(prior.intercept_m, 5),
        "slope_m": round(prior.slope_m, 5),
        "pearson_r": round(float(np.corrcoef(u, mean)[0, 1]), 3),
        "residual_mm": round(1000 * float(np.sqrt(np.mean((prior.mean_m(u) - mean) ** 2))), 1),
    }


def sample_spreads(
    predictor: MegaPredictor, tokenizer: MeshVQVAE, crops: Crops, num_samples: int, chunk: int = 8
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """What a prior is fitted on: per crop, the cheap uncertainty (M,) and the per-vertex spread (M, V) metres of
    ``num_samples`` decoded samples, exactly as the mesh stage measures them; ``chunk`` crops at a time."""
    import torch

    from mocap.mega.sampling import vertex_uncertainty

    cheap, spreads = [], []
    for rows in np.array_split(np.arange(len(crops)), max(1, -(-len(crops) // chunk))):
        predictions = predictor.predict(crops[rows], num_samples=num_samples)
        assert predictions.samples is not None
        with torch.no_grad():
            meshes = tokenizer.decode(torch.from_numpy(predictions.samples.reshape(len(rows) * num_samples, -1)))
        spreads.append(vertex_uncertainty(meshes.view(len(rows), num_samples, *meshes.shape[1:])).numpy())
        cheap.append(predictions.uncertainty)
    return np.concatenate(cheap).astype(np.float32), np.concatenate(spreads).astype(np.float32)
