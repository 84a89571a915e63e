"""What one MEGA training step costs (forward, losses, backward, AdamW) -> ``benchmarks/results/train_step.json``.

For planning training runs: the shipped CPU preset and the wider ``anny-landmarks-small`` at a few batch sizes, on
the CPU (one thread, as the model card's runs) and on ``--device`` when it is a GPU, all in one run so the ratios
compare like with like. The batches are random tensors of the real shapes (54 token ids over 512 codes, 33
landmark features, rotation and reprojection targets): the step's arithmetic does not depend on their values, and
this measures the model, not the batch source (which builds Anny bodies and tokenizes them on the CPU).

Example (repository root):
    python benchmarks/bench_train_step.py --device cuda --out benchmarks/results/train_step_cuda.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from mocap.devices import resolve_device
from mocap.mega.model import Mega, MegaConfig, parameter_count
from mocap.mega.train import TrainConfig, TrainingBatch, mega_losses

PRESETS = {"anny-landmarks-cpu": MegaConfig.anny_landmarks_cpu, "anny-landmarks-small": MegaConfig.anny_landmarks_small}


def random_batch(config: MegaConfig, batch: int, generator: torch.Generator) -> TrainingBatch:
    """A conditioned training batch of ``batch`` examples with the shapes the real batch sources give."""
    return TrainingBatch(
        ids=torch.randint(0, config.num_embeddings, (batch, config.seq_length), generator=generator),
        cond=torch.rand(batch, config.cond_length, config.cond_dim, generator=generator) * 2 - 1,
        rotation_6d=torch.rand(batch, 6, generator=generator),
        keypoints_canonical_m=torch.rand(batch, 33, 3, generator=generator) - 0.5,
        keypoints_crop=torch.rand(batch, 33, 3, generator=generator),
    )


def step_ms(preset: str, batch: int, device: torch.device, steps: int) -> dict:
    """Median wall time of one optimiser step (after 3 warm-up steps), synchronised on a GPU."""
    config = PRESETS[preset]()
    model = Mega(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    generator, train = torch.Generator().manual_seed(0), TrainConfig()
    data = random_batch(config, batch, generator).to(device)
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        mega_losses(model, data, generator, train).total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    ms = 1000 * sorted(times)[len(times) // 2]
    return {
        "preset": preset,
        "parameters": parameter_count(model),
        "batch": batch,
        "device": str(device),
        "ms_per_step": round(ms, 2),
        "examples_per_s": round(1000 * batch / ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto: where the step runs besides the CPU")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_step.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # the model card's CPU runs: one thread per training process
    device = resolve_device(args.device)
    rows = [step_ms(preset, 32, torch.device("cpu"), args.steps) for preset in PRESETS]
    if device.type != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU: faster, never different
        rows += [step_ms(p, b, device, 3 * args.steps) for p in PRESETS for b in (32, 256, 1024)]
    baseline = rows[0]["ms_per_step"] / rows[0]["batch"]  # the shipped preset, batch 32, one CPU thread
    for row in rows:
        row["examples_per_s_vs_cpu_preset_batch32"] = round(baseline / (row["ms_per_step"] / row["batch"]), 1)
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s)"
        + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
        "torch": torch.__version__,
        "baseline": "anny-landmarks-cpu, batch 32, one CPU thread, same run",
        "steps": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
