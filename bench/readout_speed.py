"""Readout cost per image: classifier forward passes, backward calls and CPU time, for every ingress mode
and both node selections, against a plain forward pass of the same image timed right next to it.

    .venv/bin/python bench/readout_speed.py [--model efficientnet_lite0] [--top-k 16] [--limit 8] [--threads 1]

Images: data/samples/** (scripts/fetch_samples.py); random pixels when there are none (said so).
The issue's budget: <= 5 classifier passes per image beyond the explanation itself. An image gets two
circuits (its original and its explanation), so the budget column is 'x fwd/image': the time of both
readouts over one plain forward's time. Counts alone would undercount: the hooks that record the gated
modes' activation gains and their 1x1-surrogate passes ('sur calls': forwards + backward calls) are not
classifier passes but cost time, and a backward call costs more than a forward; the times count
everything. Times are CPU seconds of this process (time.process_time), each readout against a plain
forward timed next to it (median of 3), so other processes on a shared machine do not skew the ratio;
with more than one torch thread CPU seconds add up over threads (use --threads 1 for clean ratios).
Wall seconds per circuit are printed as well.
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
from amx_core.readout import INGRESS_MODES, ReadoutConfig, composed_ingress, read_circuit  # noqa: E402
from bench.samples import load_photos, photos_or_noise, sample_paths  # noqa: E402


def sample_images(clf, limit: int) -> tuple[list[torch.Tensor], str]:
    paths = sample_paths(limit=limit)
    if paths:
        return list(load_photos(clf, paths)), f"{len(paths)} photos from data/samples"
    images, source = photos_or_noise(clf, limit or 4)  # no photos: seeded random pixels, said so
    return list(images), source


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--ingress", default=",".join(INGRESS_MODES), help="comma-separated ingress modes")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    clf = load_classifier(args.model)
    images, source = sample_images(clf, args.limit)
    print(f"model {args.model}, top_k {args.top_k}, {source}, torch threads {torch.get_num_threads()}")

    def forward_cpu(x: torch.Tensor) -> float:
        """Median CPU seconds of 3 plain forwards of x."""
        times = []
        with torch.no_grad():
            for _ in range(3):
                t = time.process_time()
                clf(x[None])
                times.append(time.process_time() - t)
        return statistics.median(times)

    with torch.no_grad():
        for _ in range(5):  # warm-up
            clf(images[0][None])
    t = time.perf_counter()
    composed_ingress(clf)
    print(f"composed-weights surrogate (once per model, not counted below): {time.perf_counter() - t:.2f} s")
    # the explanation's circuit is read from mask * image; its cost does not depend on the mask's shape
    mask = torch.zeros(1, clf.spec.crop, clf.spec.crop)
    lo, hi = clf.spec.crop // 4, 3 * clf.spec.crop // 4
    mask[:, lo:hi, lo:hi] = 1.0
    rows, fwds = [], []
    for ingress in args.ingress.split(","):
        for selection in ("activation", "flow"):
            cfg = ReadoutConfig(ingress=ingress, selection=selection, top_k=args.top_k)
            read_circuit(clf, images[0], config=cfg)  # warm-up (and the signed surrogate, once per model)
            walls, one, both, counts = [], [], [], []
            for x in images:
                fwd = forward_cpu(x)
                fwds.append(fwd)
                t, w = time.process_time(), time.perf_counter()
                c = read_circuit(clf, x, config=cfg)
                t1, w1 = time.process_time(), time.perf_counter()
                e = read_circuit(clf, x, mask, config=cfg, class_index=int(c.metrics["target"]))
                t2 = time.process_time()
                walls.append(w1 - w)
                one.append((t1 - t) / fwd)
                both.append((t2 - t) / fwd)
                counts += [[circ.metrics[f"readout_{k}"] for k in ("forward_passes", "backward_calls",
                                                                    "surrogate_calls")] for circ in (c, e)]
            mean = [sum(col) / len(col) for col in zip(*counts, strict=True)]
            rows.append((ingress, selection, *mean, statistics.median(walls), statistics.median(one),
                         statistics.median(both)))
    print(f"plain forward: median {statistics.median(fwds) * 1000:.1f} ms CPU")
    print()
    head = (f"{'ingress':9} {'selection':10} {'fwd passes':>10} {'bwd calls':>9} {'sur calls':>9} "
            f"{'wall s/circuit':>14} {'x fwd/circuit':>13} {'x fwd/image':>11}")
    print(head)
    print("-" * len(head))
    for ingress, selection, fp, bw, sc, wall, r1, r2 in rows:
        print(f"{ingress:9} {selection:10} {fp:10.1f} {bw:9.1f} {sc:9.1f} {wall:14.3f} {r1:13.2f} {r2:11.2f}")
    print()
    print("Counts are per circuit. 'x fwd' = readout CPU time / a plain forward's CPU time on the same image, "
          "timed next to it (medians over images): the cost in forward-pass equivalents. 'x fwd/image' reads "
          "both circuits of an image (original and explanation). Budget: <= 5 per image.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
