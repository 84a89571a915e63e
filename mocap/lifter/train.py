"""Training the joint lifter: detector-measured renders plus synthetic crops of every train motion.

``train_lifter(LifterRecipe(...))`` regresses the 12 ground-truth body joints (hip-centred, camera orientation) from
the examples' landmark features with a mean per-joint Euclidean loss, every example also seen in a mirror (exact
targets: the mirrored body's joints). Each batch mixes ``1 - synthetic_fraction`` detector-measured examples
(``mocap data renders``: MediaPipe's own errors) with synthetic crops of random train-motion frames
(``mocap.mega.synthetic``: more poses than the renders hold). The synthetic crops are made once per run and kept in
``out/synthetic.npz`` with the recipe that made them (another recipe into the same ``out`` is refused). Batches are
drawn from ``(seed, step)``, so a resumed run continues exactly.

Outputs in ``out``: ``last.pt`` (resumable checkpoint, atomic), ``lifter.pt`` (float16 weights + config +
metadata, :func:`mocap.lifter.model.load_lifter`), ``metrics.json`` (loss and validation figures per checkpoint).

Example:
    >>> train_lifter(LifterRecipe(out=Path("runs/lifter"), renders=(Path("runs/renders"),)))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.symmetry import mirror_landmarks
from mocap.errors import ConfigError
from mocap.io.store.layout import to_json
from mocap.lifter.model import JointLifter, LifterConfig, load_lifter, save_lifter
from mocap.lifter.world_model import WorldModel, load_world_model
from mocap.mega.evaluate import body_joint_errors_mm, body_joints
from mocap.mega.geometry import HIPS
from mocap.mega.rendered import RenderedExamples, body_joints_camera
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
    tumble_fraction: float = 0.0  # synthetic crops seen from a uniformly random direction (upside down too)
    limb_mix: float = 0.0  # chance that each limb of a synthetic crop's pose is another frame's (novel poses)
    world_model: Path | None = None  # `mocap train world-model` file: MediaPipe-like world landmarks on them
    init: Path | None = None  # start from this lifter's weights (same width and blocks): a fine-tune
    seed: int = 0
    checkpoint_every: int = 500
    stop_at: int | None = None  # stop (checkpointed) at this step while the schedule runs to ``steps``
    resume: bool = False


@dataclass(frozen=True)
class LifterExamples:
    """M examples: features (M, 33, 6) as ``crop_features``, target joints (M, 12, 3) hip-centred, metres."""

    features: torch.Tensor
    joints_m: torch.Tensor

    def __len__(self) -> int:
        return len(self.features)


def lifter_examples(
    cond: npt.NDArray[np.float32], landmarks_cam_m: npt.NDArray[np.float32], mirrored: bool = True
) -> LifterExamples:
    """Features (M, 33, 6) and GT landmarks (M, 33, 3) in camera orientation -> the lifter's examples, with each
    one's mirror image appended when ``mirrored`` (2M rows)."""
    features, landmarks = [cond], [landmarks_cam_m]
    if mirrored:
        features.append(np.concatenate([mirror_landmarks(cond[..., :3]), mirror_landmarks(cond[..., 3:])], axis=-1))
        landmarks.append(mirror_landmarks(landmarks_cam_m))
    joints = body_joints(np.concatenate(landmarks))
    return LifterExamples(torch.from_numpy(np.concatenate(features)).float(), torch.from_numpy(joints).float())


def rendered_lifter_examples(examples: RenderedExamples, mirrored: bool = True) -> LifterExamples:
    return lifter_examples(
        examples.cond, body_joints_camera(examples.rotation_6d, examples.keypoints_canonical_m), mirrored
    )


def synthetic_lifter_examples(
    count: int,
    seed: int,
    batch: int = 256,
    tumble_fraction: float = 0.0,
    world_model: WorldModel | None = None,
    limb_mix: float = 0.0,
) -> dict[str, npt.NDArray[np.float32]]:
    """``count`` synthetic detector crops of random TRAIN motion frames on random bodies (``mocap.mega.synthetic``
    defaults, ``tumble_fraction`` of them from any direction, each limb another frame's with probability
    ``limb_mix``): features (count, 33, 6) and GT landmarks (count, 33, 3) in camera orientation. With
    ``world_model`` their world landmarks are drawn from it (MediaPipe-like misses, ``mocap.lifter.world_model``)
    instead of the truth plus 3 cm of noise."""
    from mocap.mega.data import MeshTokenSource, anny_landmarks, motion_mesh_sampler
    from mocap.mega.synthetic import LandmarkSynthesis

    def no_tokens(meshes: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(meshes), 1, dtype=torch.long)  # the lifter needs no tokens

    synthesis = LandmarkSynthesis(tumble_fraction=tumble_fraction)
    sampler = motion_mesh_sampler("train", limb_mix)
    source = MeshTokenSource(sampler, no_tokens, batch, anny_landmarks(), synthesis, seed=seed)
    cond, landmarks = [], []
    for step in range(-(-count // batch)):
        made = source(step)
        assert made.cond is not None and made.rotation_6d is not None and made.keypoints_canonical_m is not None
        cond.append(made.cond.numpy())
        landmarks.append(body_joints_camera(made.rotation_6d.numpy(), made.keypoints_canonical_m.numpy()))
    features, truth = np.concatenate(cond)[:count], np.concatenate(landmarks)[:count]
    if world_model is not None:
        features = with_drawn_world(features, truth, world_model, seed)
    return {"cond": features, "landmarks_cam_m": truth}


def with_drawn_world(
    features: npt.NDArray[np.float32], truth_cam_m: npt.NDArray[np.float32], world_model: WorldModel, seed: int
) -> npt.NDArray[np.float32]:
    """Features (M, 33, 6) whose world landmarks are replaced by a draw of ``world_model`` for the true landmarks
    (M, 33, 3) in camera orientation (any centre); the crop x, y and visibility are kept."""
    centred = torch.from_numpy(np.asarray(truth_cam_m - truth_cam_m[:, HIPS].mean(axis=1, keepdims=True), np.float32))
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.cat([world_model.sample(part, generator) for part in centred.split(4096)]).numpy()
    return np.concatenate([features[..., :3], drawn], axis=-1).astype(np.float32)


def synthetic_recipe(recipe: LifterRecipe) -> str:
    """What the synthetic crops of ``recipe`` are made from, as JSON: count, seed, tumble share, limb mixing and the
    world model's sha256 (a file, not a path, so a model refitted in place counts as another)."""
    world = None if recipe.world_model is None else hashlib.sha256(Path(recipe.world_model).read_bytes()).hexdigest()
    made: dict[str, Any] = {
        "synthetic": recipe.synthetic,
        "seed": recipe.seed,
        "tumble_fraction": recipe.tumble_fraction,
    }
    if recipe.limb_mix:  # only when set, so files made before limb mixing still match their recipe
        made["limb_mix"] = recipe.limb_mix
    return json.dumps({**made, "world_model_sha256": world}, sort_keys=True)


def train_lifter(recipe: LifterRecipe) -> dict[str, Any]:
    """Train (or resume) a lifter per ``recipe``; returns the final metrics (also in ``out/metrics.json``)."""
    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    renders = rendered_lifter_examples(
        RenderedExamples.join([RenderedExamples.load_folder(folder) for folder in recipe.renders])
    )
    synthetic = None
    if recipe.synthetic > 0 and recipe.synthetic_fraction > 0:
        cached, made_by = out / "synthetic.npz", synthetic_recipe(recipe)
        if not cached.exists():
            world_model = None if recipe.world_model is None else load_world_model(recipe.world_model)
            arrays = synthetic_lifter_examples(
                recipe.synthetic,
                recipe.seed,
                tumble_fraction=recipe.tumble_fraction,
                world_model=world_model,
                limb_mix=recipe.limb_mix,
            )
            np.savez(out / "synthetic.partial.npz", **arrays, made_by=np.array(made_by))  # type: ignore[arg-type]
            (out / "synthetic.partial.npz").replace(cached)
        with np.load(cached) as arrays:
            # Crops made for another recipe (a rerun into the same --out with other flags) would train silently
            # on the wrong data. Files from before session 20 carry no recipe and are read as they are.
            if "made_by" in arrays and str(arrays["made_by"]) != made_by:
                raise ConfigError(
                    f"{cached} holds synthetic crops made for {arrays['made_by']}, not {made_by}: remove it to make "
                    "them again, or train into a new --out"
                )
            synthetic = lifter_examples(arrays["cond"], arrays["landmarks_cam_m"])
    validation = None
    if recipe.validation is not None:
        validation = rendered_lifter_examples(RenderedExamples.load_folder(recipe.validation), mirrored=False)

    torch.manual_seed(recipe.seed)
    lifter = JointLifter(recipe.model)
    if recipe.init is not None:
        start_from = load_lifter(recipe.init)
        if not isinstance(start_from, JointLifter):
            raise ConfigError(f"--init {recipe.init} is an ensemble of lifters: fine-tune one of its members' files")
        if start_from.config != recipe.model:
            raise ConfigError(
                f"--init {recipe.init} is a lifter of {start_from.config}, not {recipe.model}: "
                "give the same --width, --blocks and --dropout, or train from scratch without --init"
            )
        lifter.load_state_dict(start_from.state_dict())
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
        features, joints = renders.features[rows], renders.joints_m[rows]
        if synthetic is not None and n_synthetic:
            picks = torch.randint(len(synthetic), (n_synthetic,), generator=generator)
            features = torch.cat([features, synthetic.features[picks]])
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
                    errors = body_joint_errors_mm(lifter(validation.features).numpy(), validation.joints_m.numpy())
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


def _checkpoint(
    path: Path, lifter: JointLifter, optimiser: torch.optim.Optimizer, step: int, history: list[dict[str, Any]]
) -> None:
    partial = path.with_name(path.name + ".partial")
    state = {"model": lifter.state_dict(), "optimiser": optimiser.state_dict(), "step": step}
    torch.save({**state, "history": json.dumps(history)}, partial)
    partial.replace(path)
