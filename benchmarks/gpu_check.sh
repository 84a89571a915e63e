#!/usr/bin/env bash
# The GPU checks, for a session lent a CUDA machine (one call of a few minutes; nothing here runs in CI):
#   1. the model tests on the GPU: the mesh stage gives the CPU's answers (tests/mesh/test_stage.py; skipped where
#      torch sees no GPU), and training, sampling and decoding run there where the tests choose "auto";
#   2. bench_mega's speed section on the GPU: argmax per crop, and K = 16 samples x 5 steps with the decode of the 16
#      meshes (issue 5's 40 ms, the reference's GPU figure) -> $OUT/mega_gpu.json ("speed_cuda").
#
# Here, first (the GPU image has python 3.12 with a CUDA torch, numpy, scipy, pytest and tqdm, but not these;
# nor PyAV, MediaPipe or anny, so the pipeline and body tests stay on CPU machines):
#   bash benchmarks/gpu_check.sh --wheels          # -> .whl/ (~10 MB, git-ignored)
#   python benchmarks/bench_mega.py --speed-only --clips .cache/bench_mega/s1.mp4   # makes s1's detections here
# There, carrying .whl and .cache/bench_mega/s1.detections.npz:
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--wheels" ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d .whl zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
        platformdirs==4.14.9 filterpy==2.0.0 trimesh==5.2.0
    exit 0
fi
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print(torch.cuda.get_device_name())"
# The speed section runs even when a test fails (one lease, both answers); the script's status is the tests'.
tests=0
# The model tests (mega, tokenizer, lifter, mesh stage, smoother): where they pick "auto", they train and run on
# the GPU. Those that build Anny bodies stay on the CPU machines (anny is not installed there).
python3 -m pytest -q -p no:cacheprovider tests/test_devices.py tests/mega tests/tokenizer tests/lifter tests/mesh \
    tests/smooth --deselect tests/mega/test_rendered.py --deselect tests/mesh/test_fusion.py 2>&1 \
    | tee "$OUT/tests.log" || tests=$?
python3 benchmarks/bench_mega.py --speed-only --device cuda --clips .cache/bench_mega/s1.mp4 --out "$OUT/mega_gpu.json"
exit "$tests"
