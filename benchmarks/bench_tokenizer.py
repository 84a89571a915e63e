"""Accuracy and speed of the Anny mesh tokenizer.

- accuracy on held-out mocap frames (the motion dataset's validation and test subjects, random
  phenotypes, canonical meshes): mean vertex error and PA error in mm on the FULL 13,718-vertex mesh,
  codebook usage and perplexity; and the floor set by the coarse level alone (full mesh -> 1,700
  vertices -> fitted upsampling, no network);
- decode speed (token ids -> full mesh) at batch 1 and 16, median of repeated runs, with 1 and 2
  torch threads.

Usage: ``python benchmarks/bench_tokenizer.py [--model models/tokenizer_anny/tokenizer.pt]
[--meshes 256] [--out benchmarks/results/tokenizer.json]``. Targets: mean vertex error <= 10 mm,
decode <= 5 ms per mesh at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mocap.tokenizer.model import MeshVQVAE
from mocap.tokenizer.train import evaluate

ROOT = Path(__file__).resolve().parents[1]


def held_out_meshes(split: str, n: int, seed: int) -> torch.Tensor:
    from mocap.motion.dataset import MotionDataset

    rng = np.random.default_rng(seed)
    return torch.from_numpy(MotionDataset.load().sample_canonical_meshes(split, n, rng))  # type: ignore[arg-type]


def coarse_floor_mm(model: MeshVQVAE, meshes: torch.Tensor) -> float:
    """Mean full-mesh error of the fixed map alone: full -> level 0 -> upsampled full."""
    with torch.no_grad():
        rebuilt = model.from_level0(model.to_level0(meshes))
    target = meshes - meshes.mean(1, keepdim=True)
    return 1000 * float((rebuilt - target).norm(dim=-1).mean())


def decode_ms(model: MeshVQVAE, batch: int, threads: int, repeats: int = 20) -> float:
    """Median milliseconds per decode call of ``batch`` random token sequences."""
    torch.set_num_threads(threads)
    ids = torch.randint(0, model.config.num_embeddings, (batch, model.num_tokens))
    times = []
    with torch.no_grad():
        model.decode(ids)  # warm-up (and the eval-mode coefficient cache)
        for _ in range(repeats):
            start = time.perf_counter()
            model.decode(ids)
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "tokenizer_anny" / "tokenizer.pt")
    parser.add_argument("--meshes", type=int, default=256, help="held-out meshes per split")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer.json")
    args = parser.parse_args()

    model = MeshVQVAE.load(args.model)
    result: dict[str, object] = {
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "level_sizes": list(model.hierarchy.level_sizes),
        "full_vertices": model.hierarchy.input_size,
    }
    torch.set_num_threads(1)
    for split, seed in (("validation", 1), ("test", 2)):
        meshes = held_out_meshes(split, args.meshes, seed)
        result[split] = {**evaluate(model, meshes), "coarse_level_floor_mm": coarse_floor_mm(model, meshes)}
    # The machine is shared: the 1-minute load average says how contended the timings were.
    result["load_average_1min_before_timing"] = round(os.getloadavg()[0], 2)
    result["decode_ms"] = {
        f"batch{batch}_threads{threads}": round(decode_ms(model, batch, threads), 2)
        for threads in (1, 2)
        for batch in (1, 16)
    }
    result["decode_ms_per_mesh_batch16_threads1"] = round(result["decode_ms"]["batch16_threads1"] / 16, 2)  # type: ignore[index]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
