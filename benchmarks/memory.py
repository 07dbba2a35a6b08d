"""Peak memory of an audit at 10k, 100k and 1M samples, and analysis time from the cache.

Streaming means peak RSS must not grow with the dataset. Each size runs in a fresh process that
reports its own peak RSS (ru_maxrss). The manifest points at a pool of 1,000 distinct 48x48
JPEGs (sample ids unique), and the model is a tiny generated ONNX classifier run through the
generic adapter: what is measured is emoaudit's pipeline (reading, hashing, decoding, shards,
merge, analysis), not a network, and the 1M run then takes minutes instead of a quarter hour.

Usage: python benchmarks/memory.py [--sizes 10000,100000,1000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = """[model]
name = "tiny-bench"

[input]
height = 48
width = 48
layout = "NCHW"
color = "gray"

[output]
labels = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
kind = "logits"
"""


def tiny_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(1, 7)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def write_pool(folder: Path, n: int = 1000) -> list[str]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        img = rng.integers(0, 255, (48, 48), dtype=np.uint8)
        name = f"pool/{i:04d}.jpg"
        cv2.imwrite(str(folder.parent / name), img)
        names.append(name)
    return names


def write_manifest(path: Path, pool: list[str], rows: int) -> Path:
    labels = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    groups = ("a", "b", "c")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["sample_id", "path", "label", "group"])
        for i in range(rows):
            w.writerow([f"s{i}", pool[i % len(pool)], labels[i % 7], groups[i % 3]])
    return path


def child(manifest: Path, model: Path, spec: Path, out: Path, resamples: int) -> None:
    """Run in a fresh process: the audit, then the analysis alone from the cache."""
    from emoaudit.analysis.results import build_results
    from emoaudit.run.audit import AuditRequest, run_audit

    start = time.perf_counter()
    req = AuditRequest(
        data=manifest,
        out=out,
        models=[str(model)],
        model_spec=spec,
        fmt="manifest",
        precropped=True,
        n_resamples=resamples,
        groups=["group"],
    )
    run_audit(req)
    audit_s = time.perf_counter() - start
    start = time.perf_counter()
    build_results(out, n_resamples=resamples, groups=["group"])
    analysis_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"audit_s": audit_s, "analysis_s": analysis_s, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        m, mod, spec, out, res = args.child
        child(Path(m), Path(mod), Path(spec), Path(out), int(res))
        return
    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-mem-"))
    try:
        pool = write_pool(tmp / "pool")
        model = tiny_model(tmp / "tiny.onnx")
        spec = tmp / "spec.toml"
        spec.write_text(SPEC)
        for size in (int(s) for s in args.sizes.split(",")):
            manifest = write_manifest(tmp / f"manifest-{size}.csv", pool, size)
            cmd = [sys.executable, __file__, "--child", str(manifest), str(model), str(spec),
                   str(tmp / f"out-{size}"), str(args.resamples)]  # fmt: skip
            result = subprocess.run(cmd, check=True, capture_output=True, text=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            print(json.dumps({"samples": size, **{k: round(v, 1) for k, v in figures.items()}}))
            shutil.rmtree(tmp / f"out-{size}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
