"""Training the joint lifter: detector-measured renders plus synthetic crops of every train motion.

``train_lifter(LifterRecipe(...))`` regresses the 12 ground-truth body joints (hip-centred, camera orientation) from
the examples' landmark features with a mean per-joint Euclidean loss, every example also seen in a mirror (exact
targets: the mirrored body's joints). Each batch mixes ``1 - synthetic_fraction`` detector-measured examples
(``mocap data renders``: MediaPipe's own errors) with synthetic crops of random train-motion frames
(``mocap.mega.synthetic``: more poses than the renders hold). The synthetic crops are made once per run and kept in
``out/synthetic.npz``. Batches are drawn from ``(seed, step)``, so a resumed run continues exactly.

A temporal lifter (``LifterConfig.window`` > 1) reads each render example's window of its clip's frames
(:mod:`mocap.lifter.temporal`); a synthetic crop is a person standing still (its window repeats it). In a share
``drop_fraction`` of the windows, frames other than the current one are dropped at a random rate up to 0.9 and held
over, as a webcam that drops frames or a detector that misses some makes them. ``init`` starts from a trained lifter
(a single-frame one: the motion branch starts at zero, so training begins at its answers).

Outputs in ``out``: ``last.pt`` (resumable checkpoint, atomic), ``lifter.pt`` (float16 weights + config +
metadata, :func:`mocap.lifter.model.load_lifter`), ``metrics.json`` (loss and validation figures per checkpoint).

Example:
    >>> train_lifter(LifterRecipe(out=Path("runs/lifter"), renders=(Path("runs/renders"),)))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.rotations import rotation_6d_to_matrix
from mocap.body.symmetry import mirror_landmarks
from mocap.errors import ConfigError
from mocap.io.store.layout import to_json
from mocap.lifter.model import JointLifter, LifterConfig, load_lifter, save_lifter
from mocap.lifter.temporal import hold_dropped, window_rows
from mocap.mega.evaluate import body_joint_errors_mm, body_joints
from mocap.mega.rendered import RenderedExamples
from mocap.mega.train import lr_factor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LifterRecipe:
    """One training run (see the module docstring for the files it writes)."""

    out: Path
    renders: tuple[Path, ...]  # `mocap data renders` folders of TRAIN motions
    validation: Path | None = None  # a `mocap data renders --split validation` folder, for the logged figures
    model: LifterConfig = field(default_factory=LifterConfig)
    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    warmup_steps: int = 300
    weight_decay: float = 1e-4
    synthetic: int = 102_400  # synthetic crops made once (0: renders only)
    synthetic_fraction: float = 0.25
    seed: int = 0
    checkpoint_every: int = 500
    stop_at: int | None = None  # stop (checkpointed) at this step while the schedule runs to ``steps``
    resume: bool = False
    init: Path | None = None  # a trained lifter to start from (its config must match ``model`` but for the window)
    drop_fraction: float = 0.3  # windows with dropped frames (temporal lifters only)


@dataclass(frozen=True)
class LifterExamples:
    """M examples: features (M, 33, 6) as ``crop_features``, target joints (M, 12, 3) hip-centred, metres, and each
    example's window (M, T) of rows, oldest first, ending at itself (T = 1: the example alone)."""

    features: torch.Tensor
    joints_m: torch.Tensor
    windows: torch.Tensor

    def __len__(self) -> int:
        return len(self.features)

    def inputs(self, rows: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        """The lifter's input for ``rows`` (B,): (B, 33, 6), or (B, T, 33, 6) windows with the frames not ``kept``
        (B, T) held over (:func:`mocap.lifter.temporal.hold_dropped`)."""
        if self.windows.shape[1] == 1:
            return self.features[rows]
        windows = self.windows[rows]
        return self.features[windows if kept is None else hold_dropped(windows, kept)]


def body_joints_camera(
    rotation_6d: npt.NDArray[np.float32], keypoints_canonical_m: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """GT rotations (M, 6) canonical -> camera and canonical landmarks (M, 33, 3) -> (M, 33, 3) camera orientation."""
    rotation = rotation_6d_to_matrix(torch.from_numpy(np.asarray(rotation_6d, np.float32))).numpy()
    return np.einsum("mij,mkj->mki", rotation, keypoints_canonical_m).astype(np.float32)


def lifter_examples(
    cond: npt.NDArray[np.float32],
    landmarks_cam_m: npt.NDArray[np.float32],
    mirrored: bool = True,
    windows: npt.NDArray[np.int64] | None = None,
) -> LifterExamples:
    """Features (M, 33, 6) and GT landmarks (M, 33, 3) in camera orientation (and windows (M, T) of rows; None: each
    example alone) -> the lifter's examples, with each one's mirror image appended when ``mirrored`` (2M rows; the
    mirror images' windows are the mirror images of the windows)."""
    rows = np.arange(len(cond))[:, None] if windows is None else np.asarray(windows, np.int64)
    features, landmarks, all_rows = [cond], [landmarks_cam_m], [rows]
    if mirrored:
        features.append(np.concatenate([mirror_landmarks(cond[..., :3]), mirror_landmarks(cond[..., 3:])], axis=-1))
        landmarks.append(mirror_landmarks(landmarks_cam_m))
        all_rows.append(rows + len(cond))
    joints = body_joints(np.concatenate(landmarks))
    return LifterExamples(
        torch.from_numpy(np.concatenate(features)).float(),
        torch.from_numpy(joints).float(),
        torch.from_numpy(np.concatenate(all_rows)),
    )


def rendered_lifter_examples(examples: RenderedExamples, mirrored: bool = True, window: int = 1) -> LifterExamples:
    """The lifter's examples of detector-measured renders; ``window`` > 1 needs the shards' frame indices."""
    windows = None
    if window > 1:
        if examples.frame_index is None or examples.clip is None:
            raise ConfigError(
                "these rendered examples have no frame indices, which a temporal lifter needs: rebuild them with "
                "`mocap data renders` (shards made before session 12 lack them)"
            )
        windows = window_rows(examples.clip, examples.frame_index, window)
    return lifter_examples(
        examples.cond, body_joints_camera(examples.rotation_6d, examples.keypoints_canonical_m), mirrored, windows
    )


def synthetic_lifter_examples(count: int, seed: int, batch: int = 256) -> dict[str, npt.NDArray[np.float32]]:
    """``count`` synthetic detector crops of random TRAIN motion frames on random bodies (``mocap.mega.synthetic``
    defaults): features (count, 33, 6) and GT landmarks (count, 33, 3) in camera orientation."""
    from mocap.mega.data import MeshTokenSource, anny_landmarks, motion_mesh_sampler

    def no_tokens(meshes: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(meshes), 1, dtype=torch.long)  # the lifter needs no tokens

    source = MeshTokenSource(motion_mesh_sampler(), no_tokens, batch, anny_landmarks(), seed=seed)
    cond, landmarks = [], []
    for step in range(-(-count // batch)):
        made = source(step)
        assert made.cond is not None and made.rotation_6d is not None and made.keypoints_canonical_m is not None
        cond.append(made.cond.numpy())
        landmarks.append(body_joints_camera(made.rotation_6d.numpy(), made.keypoints_canonical_m.numpy()))
    return {"cond": np.concatenate(cond)[:count], "landmarks_cam_m": np.concatenate(landmarks)[:count]}


def train_lifter(recipe: LifterRecipe) -> dict[str, Any]:
    """Train (or resume) a lifter per ``recipe``; returns the final metrics (also in ``out/metrics.json``)."""
    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    window = recipe.model.window
    renders = rendered_lifter_examples(
        RenderedExamples(**_joined([RenderedExamples.load_folder(folder) for folder in recipe.renders])), window=window
    )
    synthetic = None
    if recipe.synthetic > 0 and recipe.synthetic_fraction > 0:
        cached = out / "synthetic.npz"
        if not cached.exists():
            arrays = synthetic_lifter_examples(recipe.synthetic, recipe.seed)
            np.savez(out / "synthetic.partial.npz", **arrays)  # type: ignore[arg-type]
            (out / "synthetic.partial.npz").replace(cached)
        with np.load(cached) as arrays:
            still = np.repeat(np.arange(len(arrays["cond"]))[:, None], window, axis=1)  # standing still
            synthetic = lifter_examples(arrays["cond"], arrays["landmarks_cam_m"], windows=still)
    validation = None
    if recipe.validation is not None:
        validation = rendered_lifter_examples(
            RenderedExamples.load_folder(recipe.validation), mirrored=False, window=window
        )

    torch.manual_seed(recipe.seed)
    lifter = JointLifter(recipe.model)
    if recipe.init is not None:
        _start_from(lifter, load_lifter(recipe.init))
    optimiser = torch.optim.AdamW(lifter.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    start, history = 0, []
    if recipe.resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        lifter.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        start, history = int(state["step"]), json.loads(state["history"])
    n_synthetic = round(recipe.batch_size * recipe.synthetic_fraction) if synthetic is not None else 0
    tic = time.perf_counter()
    lifter.train()
    for step in range(start, min(recipe.steps, recipe.stop_at or recipe.steps)):
        generator = torch.Generator().manual_seed(recipe.seed * 1_000_003 + step)
        rows = torch.randint(len(renders), (recipe.batch_size - n_synthetic,), generator=generator)
        kept = _kept(len(rows), window, recipe.drop_fraction, generator)
        features, joints = renders.inputs(rows, kept), renders.joints_m[rows]
        if synthetic is not None and n_synthetic:
            picks = torch.randint(len(synthetic), (n_synthetic,), generator=generator)
            features = torch.cat([features, synthetic.inputs(picks)])
            joints = torch.cat([joints, synthetic.joints_m[picks]])
        for group in optimiser.param_groups:
            group["lr"] = recipe.lr * lr_factor(step, recipe.warmup_steps, recipe.steps)
        torch.manual_seed(recipe.seed * 1_000_003 + step)  # dropout
        loss = (lifter(features) - joints).norm(dim=-1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if (step + 1) % recipe.checkpoint_every == 0 or step + 1 in (recipe.steps, recipe.stop_at):
            entry: dict[str, Any] = {"step": step + 1, "loss_mm": float(loss.detach()) * 1000}
            entry["seconds"] = round(time.perf_counter() - tic, 1)
            if validation is not None:
                lifter.eval()
                with torch.no_grad():
                    every = torch.arange(len(validation))
                    errors = body_joint_errors_mm(lifter(validation.inputs(every)).numpy(), validation.joints_m.numpy())
                entry["validation"] = {f"{name}_mm": float(value.mean()) for name, value in errors.items()}
                lifter.train()
            history.append(entry)
            log.info("lifter step %d: %s", step + 1, entry)
            _checkpoint(out / "last.pt", lifter, optimiser, step + 1, history)
    lifter.eval()
    metrics = {"recipe": to_json(asdict(recipe)), "history": history, "final": history[-1] if history else {}}
    save_lifter(lifter, out / "lifter.pt", metrics)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _kept(rows: int, window: int, drop_fraction: float, generator: torch.Generator) -> torch.Tensor | None:
    """(rows, T) frames kept in each window: all, but in ``drop_fraction`` of the windows each frame before the
    current one is dropped at a rate drawn from [0, 0.9]. None for a single-frame lifter."""
    if window == 1:
        return None
    rate = torch.rand(rows, 1, generator=generator) * 0.9
    rate = torch.where(torch.rand(rows, 1, generator=generator) < drop_fraction, rate, torch.zeros_like(rate))
    kept = torch.rand(rows, window, generator=generator) >= rate
    kept[:, -1] = True
    return kept


def _start_from(lifter: JointLifter, trained: JointLifter) -> None:
    """Copy ``trained``'s weights into ``lifter``; only a motion branch ``trained`` lacks may stay as initialised."""
    try:
        missing, unexpected = lifter.load_state_dict(trained.state_dict(), strict=False)
    except RuntimeError as error:  # a tensor of another shape
        missing, unexpected = [str(error).splitlines()[0]], []
    if unexpected or any(not name.startswith(("frames.", "motion.")) for name in missing):
        raise ConfigError(
            f"the lifter to start from does not fit this config (missing {missing}, unexpected {unexpected}): "
            "give the --width and --blocks it was trained with"
        )


def _joined(parts: list[RenderedExamples]) -> dict[str, npt.NDArray[Any]]:
    names = ["cond", "ids", "rotation_6d", "keypoints_canonical_m", "keypoints_crop"]
    joined = {name: np.concatenate([getattr(p, name) for p in parts]) for name in names}
    frames = [p.frame_index for p in parts]
    clips = [p.clip for p in parts]
    if all(f is not None for f in frames) and all(c is not None for c in clips):  # clips numbered across folders
        offset, numbered = 0, []
        for clip in clips:
            assert clip is not None
            numbered.append(clip + offset)
            offset += int(clip.max()) + 1
        joined["frame_index"] = np.concatenate(frames)  # type: ignore[arg-type]
        joined["clip"] = np.concatenate(numbered)
    return joined


def _checkpoint(
    path: Path, lifter: JointLifter, optimiser: torch.optim.Optimizer, step: int, history: list[dict[str, Any]]
) -> None:
    partial = path.with_name(path.name + ".partial")
    state = {"model": lifter.state_dict(), "optimiser": optimiser.state_dict(), "step": step}
    torch.save({**state, "history": json.dumps(history)}, partial)
    partial.replace(path)
