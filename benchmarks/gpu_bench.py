"""GPU throughput and GPU/CPU agreement for the built-in models (the Python half of gpu.sh).

For each model, on the same N generated 48x48 JPEG faces (FER2013 folder layout, as in
throughput.py) and each batch size:

- bare: the session (ONNX Runtime CUDA, or the onnx2torch module) alone on pre-decoded,
  preprocessed float32 tensors, host arrays in and out (copies to and from the GPU included);
- end to end: the audit runner (read, hash, decode, preprocess, infer, Parquet shards, merge) from
  an empty cache, models loaded and warmed up beforehand (as throughput.py does);
- agreement: max |p_device - p_cpu| and argmax agreement on the first --check-n faces.

DEVICE=cpu (or --device cpu) runs the same code on the CPU: that is how it is tested without a GPU.
Usage: python benchmarks/gpu_bench.py --device cuda [--n 20000] [--batches 16,64,256,1024]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import MODELS, make_faces  # noqa: E402  (benchmarks/ is not a package)


def bare_rate(model, tensors: np.ndarray, *, batch: int) -> float:
    """Images/s of the session alone; one warm-up call first (CUDA context, cuDNN algorithms)."""
    model.session.run(None, {model.input_name: tensors[:batch]})
    start = time.perf_counter()
    for i in range(0, len(tensors), batch):
        model.session.run(None, {model.input_name: tensors[i : i + batch]})
    return len(tensors) / (time.perf_counter() - start)


def end_to_end_rate(model, data: Path, out: Path, *, batch: int, workers: int) -> float:
    from emoaudit.data import DATASETS
    from emoaudit.run.runner import RunPlan, run_plan

    adapter = DATASETS.get("fer2013-folders")
    plan = RunPlan(
        dataset="fer2013-folders",
        samples=lambda: adapter.iter_samples(data),
        models=[model],
        batch_size=batch,
        workers=workers,
    )
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    outcome = run_plan(plan, out)
    rate = outcome.n_rows / (time.perf_counter() - start)
    shutil.rmtree(out, ignore_errors=True)
    return rate


def agreement(model, reference, tensors: np.ndarray) -> dict:
    """How far the device's probabilities are from ONNX Runtime on CPU for the same tensors."""
    got = np.concatenate(
        [model.predict_proba(tensors[i : i + 256]) for i in range(0, len(tensors), 256)]
    )
    want = np.concatenate(
        [reference.predict_proba(tensors[i : i + 256]) for i in range(0, len(tensors), 256)]
    )
    return {
        "max_abs_prob_diff": float(np.abs(got - want).max()),
        "argmax_agreement": float((got.argmax(1) == want.argmax(1)).mean()),
        "n": len(tensors),
    }


def tf32_effect(model, reference, tensors: np.ndarray, *, check_n: int, batch: int) -> dict:
    """On the PyTorch path, agreement and speed with TF32 switched back on (PyTorch's default).

    emoaudit switches TF32 off (device.exact_float32); this measures what that costs in speed and
    buys in agreement with the CPU reference, so the choice stays measured on each new GPU.
    """
    import torch

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    out = {"emoaudit_cudnn_allow_tf32": before[0], "emoaudit_matmul_allow_tf32": before[1]}
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        out["agreement_vs_cpu_tf32_on"] = agreement(model, reference, tensors[:check_n])
        rate = median_rate(model, tensors, batch=batch, repeats=3)
        out[f"bare_images_per_s_tf32_on_b{batch}"] = rate
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    return out


def median_rate(model, tensors: np.ndarray, *, batch: int, repeats: int) -> float:
    return round(
        float(np.median([bare_rate(model, tensors, batch=batch) for _ in range(repeats)])), 1
    )


def bench_model(name: str, *, device: str, faces: list, data: Path, tmp: Path, args) -> dict:
    from emoaudit.models.onnx_model import load_model
    from emoaudit.models.preprocess import prepare_batch

    t0 = time.perf_counter()
    model = load_model(name, device=device)
    load_s = time.perf_counter() - t0
    reference = load_model(name, device="cpu")
    tensors = prepare_batch(faces, model.info.input)
    row = {
        "model": name,
        "runtime": model.backend.runtime,
        "load_s": round(load_s, 2),
        "agreement_vs_cpu": agreement(model, reference, tensors[: args.check_n]),
        "bare_images_per_s": {},
        "end_to_end_images_per_s": {},
    }
    if model.backend.runtime == "torch-cuda":
        row |= tf32_effect(model, reference, tensors, check_n=args.check_n, batch=max(args.batches))
    # Interleaved repeats: a GPU's clocks ramp up under load, so the first pass is not a fair one.
    passes = [
        [bare_rate(model, tensors, batch=b) for b in args.batches] for _ in range(args.repeats)
    ]
    for j, batch in enumerate(args.batches):
        runs = [p[j] for p in passes]
        row["bare_images_per_s"][batch] = round(float(np.median(runs)), 1)
        row.setdefault("bare_images_per_s_runs", {})[batch] = [round(r, 1) for r in runs]
    for batch in args.batches:
        rate = end_to_end_rate(model, data, tmp / "out", batch=batch, workers=args.workers)
        row["end_to_end_images_per_s"][batch] = round(rate, 1)
    sweep_batch = 256 if 256 in args.batches else max(args.batches)
    for workers in args.workers_sweep:
        rate = end_to_end_rate(model, data, tmp / "out", batch=sweep_batch, workers=workers)
        row.setdefault(f"end_to_end_batch_{sweep_batch}_by_workers", {})[workers] = round(rate, 1)
    return row


def markdown(rows: list[dict], batches: list[int]) -> str:
    head = "| model | runtime | " + " | ".join(f"bare b{b} | e2e b{b}" for b in batches)
    lines = [head + " | max abs dp vs CPU | argmax agree |"]
    lines.append("|" + "---|" * (2 + 2 * len(batches) + 2))
    for r in rows:
        cells = [r["model"], r["runtime"]]
        for b in batches:
            cells += [
                f"{r['bare_images_per_s'][b]:,.0f}",
                f"{r['end_to_end_images_per_s'][b]:,.0f}",
            ]
        agree = r["agreement_vs_cpu"]
        cells += [f"{agree['max_abs_prob_diff']:.1e}", f"{agree['argmax_agreement']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=os.environ.get("DEVICE", "cuda"))
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--check-n", type=int, default=2048)
    parser.add_argument("--batches", default="16,64,256,1024")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--workers", type=int, default=1, help="runner workers (GPU default: 1)")
    parser.add_argument("--repeats", type=int, default=3, help="bare passes, median reported")
    parser.add_argument(
        "--workers-sweep", default="", help="e2e at batch 256 with these worker counts, e.g. 1,2,4"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    args.workers_sweep = [int(w) for w in args.workers_sweep.split(",") if w.strip()]

    from emoaudit.data.images import decode_image
    from emoaudit.models.device import choose_backend

    print(choose_backend(args.device).message(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-gpu-"))
    try:
        paths = make_faces(tmp / "data", args.n)
        faces = [decode_image(p) for p in paths]
        rows = []
        failed = []
        for name in args.models.split(","):
            data = tmp / "data"
            try:
                row = bench_model(
                    name, device=args.device, faces=faces, data=data, tmp=tmp, args=args
                )
            except Exception as exc:  # one model failing must not cost the others' figures
                failed.append({"model": name, "error": f"{type(exc).__name__}: {exc}"[:500]})
                print(json.dumps(failed[-1]), flush=True)
                continue
            print(json.dumps(row), flush=True)
            rows.append(row)
        print(markdown(rows, args.batches))
        report = {"device": args.device, "n_images": args.n, "cpu_count": os.cpu_count()}
        report |= {"workers": args.workers, "results": rows, "failed": failed}
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        if failed:
            sys.exit(
                f"gpu_bench: {len(failed)} model(s) failed: {', '.join(f['model'] for f in failed)}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
