"""``mocap train tokenizer|mega|lifter|lifter-ensemble|world-model|spread``: train the models under ``models/``.

One function pair per sub-subcommand: ``_add_<name>(sub)`` declares its flags and ``_run_<name>(args)``
runs it. ``mocap train mega`` is added beside ``tokenizer`` the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (tokenizer, mega, lifter, lifter-ensemble, world-model, spread)",
        description="Train a model of mocap.",
    )
    models = p.add_subparsers(dest="model", required=True, metavar="MODEL")
    _add_tokenizer(models)
    _add_mega(models)
    _add_lifter(models)
    _add_lifter_ensemble(models)
    _add_world_model(models)
    _add_spread(models)


# -- mocap train tokenizer -------------------------------------------------------------------------


def _add_tokenizer(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "tokenizer",
        help="train the Anny Mesh-VQ-VAE",
        description="Train the Mesh-VQ-VAE tokenizer on canonical Anny meshes; evaluate on held-out meshes.",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="run folder: last.pt (resumable), tokenizer.pt, metrics.json"
    )
    p.add_argument("--steps", type=int, default=20_000, help="optimiser steps (default 20000)")
    p.add_argument("--batch", type=int, default=16, help="meshes per step (default 16)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.add_argument(
        "--data",
        choices=("mocap", "random-poses"),
        default="mocap",
        help="mocap = the motion dataset's train split (default); random-poses = development only",
    )
    p.add_argument("--checkpoint-every", type=float, default=180.0, help="seconds between checkpoints (default 180)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: on a busy 2-core machine a second thread made steps ~6x slower)",
    )
    p.set_defaults(handler=_run_tokenizer)


def _run_tokenizer(args: argparse.Namespace) -> int:
    import torch

    from mocap.tokenizer.train import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    config = TrainConfig(
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        data=args.data,
        checkpoint_every_s=args.checkpoint_every,
    )
    metrics = Trainer(config).run(resume=args.resume)
    print(json.dumps(metrics, indent=2))
    return 0


# -- mocap train mega ------------------------------------------------------------------------------


def _add_mega(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "mega",
        help="train the embedded MEGA (landmark-conditioned)",
        description="Stage 'pretrain': masked modelling of tokenized mocap meshes alone. Stage 'conditioned': "
        "MediaPipe-style landmark crops synthesized from the same bodies, started from a pretrain run's mega.pt.",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder: last.pt (resumable), mega.pt, metrics.json")
    p.add_argument("--stage", choices=("pretrain", "conditioned"), default="conditioned", help="default conditioned")
    p.add_argument(
        "--init", type=Path, help="a mega.pt to start from: stage 1, or an earlier conditioned run to fine-tune"
    )
    p.add_argument(
        "--tokenizer", type=Path, default=Path("models/tokenizer_anny/tokenizer.pt"), help="frozen tokenizer"
    )
    p.add_argument(
        "--preset",
        choices=("anny-landmarks-cpu", "anny-landmarks-small", "tiny"),
        default="anny-landmarks-small",
        help="model size: cpu (shipped, D=128), small (D=256, for a GPU), tiny (tests)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; more was slower on 2 cores)")
    p.add_argument("--steps", type=int, default=20_000, help="optimiser steps (default 20000)")
    p.add_argument("--batch", type=int, default=64, help="meshes per step (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate per 256 examples (default 1e-3)")
    p.add_argument("--warmup", type=int, default=800, help="linear warm-up steps before the cosine decay (default 800)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 ...")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument(
        "--reproject-decoded",
        action="store_true",
        help="reprojection loss on the decoded argmax mesh (as the reference) instead of the ground-truth mesh",
    )
    p.add_argument(
        "--geometry-weight",
        type=float,
        default=0.0,
        help="weight of the decoded-argmax keypoint loss (metres, straight-through; default 0 = off)",
    )
    p.add_argument(
        "--renders",
        type=Path,
        help="conditioned stage: also train on MediaPipe-measured examples from `mocap data renders --out RENDERS`",
    )
    p.add_argument(
        "--render-fraction", type=float, default=0.5, help="share of each batch drawn from --renders (default 0.5)"
    )
    p.add_argument(
        "--mirror-fraction",
        type=float,
        default=0.0,
        help="share of the --renders examples seen in a mirror (landmarks flipped left-right, the mirrored body's "
        "tokens; default 0; needs shards with ids_mirror)",
    )
    p.add_argument(
        "--tumble",
        type=float,
        default=0.0,
        help="share of synthetic crops turned by a uniform random rotation: upside-down and lying bodies "
        "(default 0: yaw +-180, pitch +-25, roll +-12 degrees around an upright body)",
    )
    p.add_argument("--stop-at", type=int, help="stop at this step (checkpointed) while the schedule runs to --steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.set_defaults(handler=_run_mega)


def _run_mega(args: argparse.Namespace) -> int:
    import torch

    from mocap.mega.recipe import MegaRecipe, train_mega
    from mocap.mega.train import TrainConfig

    torch.set_num_threads(args.threads)
    train = TrainConfig(
        steps=args.steps,
        base_lr=args.lr,
        warmup_steps=args.warmup,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device=args.device,
        geometry_weight=args.geometry_weight,
    )
    recipe = MegaRecipe(
        out=args.out,
        stage=args.stage,
        preset=args.preset,
        tokenizer=args.tokenizer,
        init=args.init,
        train=train,
        batch_size=args.batch,
        reproject_decoded=args.reproject_decoded,
        renders=args.renders,
        render_fraction=args.render_fraction,
        mirror_fraction=args.mirror_fraction,
        tumble_fraction=args.tumble,
        stop_at=args.stop_at,
        resume=args.resume,
    )
    print(json.dumps(train_mega(recipe), indent=2))
    return 0


# -- mocap train lifter ----------------------------------------------------------------------------


def _add_lifter(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "lifter",
        help="train the joint lifter (landmarks -> 12 body joints in 3-D)",
        description="Train the joint lifter (mocap.lifter) on detector-measured renders (`mocap data renders`) "
        "mixed with synthetic crops of every train motion; the mesh stage fuses its joints with MEGA's mesh.",
    )
    p.add_argument("--renders", type=Path, nargs="+", required=True, help="`mocap data renders` folders (train split)")
    p.add_argument(
        "--validation", type=Path, help="a `mocap data renders --split validation` folder: figures in metrics.json"
    )
    p.add_argument("--out", type=Path, required=True, help="run folder: last.pt (resumable), lifter.pt, metrics.json")
    p.add_argument("--steps", type=int, default=6000, help="optimiser steps (default 6000)")
    p.add_argument("--batch", type=int, default=256, help="examples per step (default 256)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate (default 1e-3)")
    p.add_argument("--width", type=int, default=1024, help="hidden width (default 1024)")
    p.add_argument("--blocks", type=int, default=2, help="residual blocks (default 2)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout in each block (default 0.1)")
    p.add_argument(
        "--synthetic", type=int, default=102_400, help="synthetic crops made once per run (default 102400; 0 = none)"
    )
    p.add_argument(
        "--synthetic-fraction", type=float, default=0.25, help="share of each batch drawn from them (default 0.25)"
    )
    p.add_argument(
        "--tumble", type=float, default=0.0, help="share of synthetic crops seen from any direction (default 0)"
    )
    p.add_argument(
        "--limb-mix",
        type=float,
        default=0.0,
        help="chance that each limb of a synthetic crop's pose is another frame's: poses no clip holds (default 0)",
    )
    p.add_argument(
        "--world-model",
        type=Path,
        help="a `mocap train world-model` file: the synthetic crops' world landmarks are drawn from it "
        "(MediaPipe-like misses) instead of the truth plus 3 cm of noise",
    )
    p.add_argument("--init", type=Path, help="start from this lifter.pt (same --width/--blocks): fine-tune")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument("--stop-at", type=int, help="stop at this step (checkpointed) while the schedule runs to --steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.set_defaults(handler=_run_lifter)


def _run_lifter(args: argparse.Namespace) -> int:
    import torch

    from mocap.errors import ConfigError
    from mocap.lifter.model import LifterConfig
    from mocap.lifter.train import LifterRecipe, train_lifter
    from mocap.lifter.world_model import load_world_model

    if not 0 <= args.synthetic_fraction <= 1:
        raise ConfigError(f"--synthetic-fraction is a share in [0, 1], got {args.synthetic_fraction}")
    if not 0 <= args.tumble <= 1:
        raise ConfigError(f"--tumble is a share in [0, 1], got {args.tumble}")
    if not 0 <= args.limb_mix <= 1:
        raise ConfigError(f"--limb-mix is a chance in [0, 1], got {args.limb_mix}")
    if args.world_model is not None:
        load_world_model(args.world_model)  # fail now, not after the renders are read
    torch.set_num_threads(args.threads)
    recipe = LifterRecipe(
        out=args.out,
        renders=tuple(args.renders),
        validation=args.validation,
        model=LifterConfig(width=args.width, blocks=args.blocks, dropout=args.dropout),
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        synthetic=args.synthetic,
        synthetic_fraction=args.synthetic_fraction,
        tumble_fraction=args.tumble,
        limb_mix=args.limb_mix,
        world_model=args.world_model,
        init=args.init,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        stop_at=args.stop_at,
        resume=args.resume,
    )
    metrics = train_lifter(recipe)
    print(json.dumps({"out": str(args.out), "final": metrics["final"]}, indent=2))
    return 0


def _add_lifter_ensemble(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "lifter-ensemble",
        help="join trained lifters into one file that answers their mean",
        description="Join lifter.pt files (each from `mocap train lifter`, on other renders or seeds) into one file "
        "whose answer is their mean: each overfits its own renders, so the mean beats each. Each member's recipe "
        "and validation history stay in the file's metadata.",
    )
    p.add_argument("members", type=Path, nargs="+", help="lifter.pt files (two or more members in all)")
    p.add_argument("--out", type=Path, required=True, help="the lifter.pt to write (e.g. models/lifter_anny/lifter.pt)")
    p.add_argument(
        "--precision",
        choices=("float16", "int8"),
        default="float16",
        help="weights as float16, or the hidden blocks' matrices as int8 with a scale per row (half the size; "
        "default float16)",
    )
    p.set_defaults(handler=_run_lifter_ensemble)


def _run_lifter_ensemble(args: argparse.Namespace) -> int:
    import torch

    from mocap.errors import ConfigError
    from mocap.lifter.model import join_lifters, save_lifter

    try:
        ensemble = join_lifters(args.members)  # one file may be an ensemble already: two networks in all suffice
    except ValueError as error:
        raise ConfigError(
            f"an ensemble needs two or more networks ({error}): `mocap train lifter-ensemble A.pt B.pt --out F`"
        ) from error
    # Each network's own metadata (recipe, validation history), read before the new file may replace an input; an
    # ensemble's members are listed one by one, as its networks are, so members[i] describes network i.
    sources: list[str] = []
    members: list[dict] = []
    for path in args.members:
        metadata = torch.load(path, map_location="cpu", weights_only=True).get("metadata", {})
        is_ensemble = "members" in metadata
        sources += metadata.get("ensemble_of", []) if is_ensemble else [str(path)]
        members += metadata["members"] if is_ensemble else [metadata]
    save_lifter(ensemble, args.out, {"ensemble_of": sources, "members": members}, precision=args.precision)
    print(json.dumps({"out": str(args.out), "members": len(ensemble.members), "precision": args.precision}))
    return 0


# -- mocap train world-model -----------------------------------------------------------------------


def _add_world_model(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "world-model",
        help="fit a model of MediaPipe's world landmarks (for the lifter's synthetic crops)",
        description="Fit mocap.lifter.world_model on detector-measured renders (`mocap data renders`): the true "
        "landmarks -> MediaPipe's world landmarks, with the residual covariance measured on held-out clips. "
        "`mocap train lifter --world-model FILE` then draws the synthetic crops' world landmarks from it.",
    )
    p.add_argument("--renders", type=Path, nargs="+", required=True, help="`mocap data renders` folders (train split)")
    p.add_argument("--out", type=Path, required=True, help="the .pt file to write")
    p.add_argument("--steps", type=int, default=6000, help="optimiser steps (default 6000)")
    p.add_argument("--held-out", type=float, default=0.1, help="share of rows (last clips) kept out (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(handler=_run_world_model)


def _run_world_model(args: argparse.Namespace) -> int:
    import torch

    from mocap.errors import ConfigError
    from mocap.lifter.world_model import fit_world_model, save_world_model
    from mocap.mega.rendered import RenderedExamples

    if not 0 < args.held_out < 1:
        raise ConfigError(f"--held-out is a share in (0, 1), got {args.held_out}")
    torch.set_num_threads(args.threads)
    parts = [RenderedExamples.load_folder(folder) for folder in args.renders]
    model, metrics = fit_world_model(parts, steps=args.steps, seed=args.seed, held_out=args.held_out)
    recipe = {"renders": [str(f) for f in args.renders], "steps": args.steps, "seed": args.seed}
    save_world_model(model, args.out, {"recipe": {**recipe, "held_out": args.held_out}, "metrics": metrics})
    print(json.dumps({"out": str(args.out), **metrics}, indent=2))
    return 0


# -- mocap train spread ----------------------------------------------------------------------------


def _add_spread(models: argparse._SubParsersAction) -> None:
    p = models.add_parser(
        "spread",
        help="fit the spread prior of the current tokenizer + MEGA",
        description="Sample MEGA on detector-measured validation renders (`mocap data renders --split validation`) "
        "as `mocap run` does, and fit the spread prior that unsampled crops get (mocap.mesh.spread): a line from the "
        "argmax uncertainty to the mean vertex spread, and the relative spread per vertex. Uses the default models "
        "(or MOCAP_MODELS_DIR's); refit whenever either model changes.",
    )
    p.add_argument("--renders", type=Path, required=True, help="a `mocap data renders --split validation` folder")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write (the default models read "
                   "mega_anny/spread_prior.npz)")  # fmt: skip
    p.add_argument("--samples", type=int, default=8, help="K samples per crop (default 8, as mocap run)")
    p.add_argument("--every", type=int, default=3, help="use every Nth example (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(handler=_run_spread)


def _run_spread(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from mocap.errors import ConfigError
    from mocap.mega.predictor import MegaPredictor, SamplingConfig
    from mocap.mega.rendered import RenderedExamples
    from mocap.mesh.models import MeshModels
    from mocap.mesh.spread import fit_spread_prior, fit_summary, sample_spreads

    if args.samples < 2 or args.every < 1:
        raise ConfigError(f"--samples must be >= 2 and --every >= 1, got {args.samples} and {args.every}")
    if args.out.suffix != ".npz":
        raise ConfigError(f"--out is an .npz file (numpy would write {args.out}.npz), got {args.out}")
    torch.set_num_threads(args.threads)
    models = MeshModels.load_default(spread=False)
    examples = RenderedExamples.load_folder(args.renders)
    crops = examples.crops(np.arange(0, len(examples), args.every))
    predictor = MegaPredictor(models.mega, SamplingConfig(seed=args.seed))
    uncertainty, spread = sample_spreads(predictor, models.tokenizer, crops, args.samples)
    prior = fit_spread_prior(uncertainty, spread)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    prior.save(args.out)
    report = {
        "out": str(args.out),
        "crops": len(crops),
        "samples": args.samples,
        **fit_summary(uncertainty, spread, prior),
        "uncertainty_percentiles_5_25_50_75_95": np.percentile(uncertainty, [5, 25, 50, 75, 95]).round(3).tolist(),
        "mean_spread_mm_percentiles_5_25_50_75_95": (1000 * np.percentile(spread.mean(axis=1), [5, 25, 50, 75, 95]))
        .round(1)
        .tolist(),
        "pattern_min_max": [round(float(prior.pattern.min()), 2), round(float(prior.pattern.max()), 2)],
    }
    print(json.dumps(report, indent=2))
    return 0
