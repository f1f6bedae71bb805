"""Readout cost per image: classifier forward passes, backward calls and seconds, for both ingress modes
and both node selections, against one plain forward pass measured in the same run.

    .venv/bin/python bench/readout_speed.py [--model efficientnet_lite0] [--top-k 16] [--limit 8]

Images: data/samples/** (scripts/fetch_samples.py); random pixels when there are none (said so).
The issue's budget: <= 5 classifier passes per image beyond the explanation itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.models import load_classifier  # noqa: E402
from amx_core.readout import ReadoutConfig, composed_ingress, read_circuit  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def sample_images(clf, limit: int | None) -> tuple[list[torch.Tensor], str]:
    from PIL import Image

    paths = sorted(p for p in (ROOT / "data" / "samples").glob("**/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        g = torch.Generator().manual_seed(0)
        n = limit or 4
        return [torch.rand(3, clf.spec.crop, clf.spec.crop, generator=g) for _ in range(n)], \
            f"NO SAMPLE PHOTOS under data/samples (run scripts/fetch_samples.py): {n} random images"
    paths = paths[:limit] if limit else paths
    return [clf.preprocess(Image.open(p)) for p in paths], f"{len(paths)} photos from data/samples"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    clf = load_classifier(args.model)
    images, source = sample_images(clf, args.limit)
    print(f"model {args.model}, top_k {args.top_k}, {source}, torch threads {torch.get_num_threads()}")

    def forward_seconds() -> float:
        """Median seconds of one plain forward (3 rounds over the images): robust to load spikes."""
        times = []
        with torch.no_grad():
            for _ in range(5):  # warm-up
                clf(images[0][None])
            for _ in range(3):
                for x in images:
                    t = time.perf_counter()
                    clf(x[None])
                    times.append(time.perf_counter() - t)
        return statistics.median(times)

    fwd = forward_seconds()
    t = time.perf_counter()
    composed_ingress(clf)
    surrogate = time.perf_counter() - t
    print(f"composed-weights surrogate (once per model): {surrogate:.2f} s")
    rows = []
    for ingress in ("weights", "gated", "gradient"):
        for selection in ("activation", "flow"):
            cfg = ReadoutConfig(ingress=ingress, selection=selection, top_k=args.top_k)
            read_circuit(clf, images[0], config=cfg)  # warm-up
            secs, fps, bws = [], [], []
            for x in images:
                t = time.perf_counter()
                c = read_circuit(clf, x, config=cfg)
                secs.append(time.perf_counter() - t)
                fps.append(c.metrics["readout_forward_passes"])
                bws.append(c.metrics["readout_backward_calls"])
            rows.append((ingress, selection, sum(fps) / len(fps), sum(bws) / len(bws), statistics.median(secs)))
    fwd_after = forward_seconds()
    base = min(fwd, fwd_after)
    print(f"plain forward, median: {fwd * 1000:.1f} ms before the readouts, {fwd_after * 1000:.1f} ms after; "
          f"baseline = the smaller")
    print()
    head = f"{'ingress':9} {'selection':10} {'fwd passes':>10} {'bwd calls':>9} {'s/image':>8} {'x forward':>9}"
    print(head)
    print("-" * len(head))
    for ingress, selection, fp, bw, s in rows:
        print(f"{ingress:9} {selection:10} {fp:10.1f} {bw:9.1f} {s:8.3f} {s / base:9.1f}")
    print()
    print("'x forward' = readout seconds / one plain forward's seconds (same run): the cost in forward-pass "
          "equivalents (medians). Budget: <= 5.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
