"""Ingest speed end to end on CPU: images per second for a preset, and where the time goes.

    .venv/bin/python bench/ingest_speed.py [--images data/samples/cheetah data/samples/tabby_cat] [--preset default]

Prints images/s, the share of time in explaining, readout (+ ablation checks) and writing, and the
per-image cost as a ratio to one forward+backward pass of the classifier measured in the same run
(the machine is shared and noisy; the ratio is what compares across runs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from amx_core.models import load_classifier
from ingest.pipeline import IngestOptions, run_ingest


def pass_seconds(classifier, batch: int = 8, repeats: int = 3) -> float:
    """Seconds for one forward+backward pass of the classifier per image, at `batch`."""
    x = torch.rand(batch, 3, 224, 224)

    def once():
        y = x.clone().requires_grad_(True)
        classifier(y).sum().backward()

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - start) / repeats / batch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="+", default=["data/samples/cheetah", "data/samples/tabby_cat"])
    p.add_argument("--class-name", default="cheetah")
    p.add_argument("--preset", default="default")
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)
    missing = [d for d in args.images if not Path(d).exists()]
    if missing:
        print(f"missing {missing}: run `make samples` first")
        return 2
    classifier = load_classifier()
    unit = pass_seconds(classifier)
    with tempfile.TemporaryDirectory() as tmp:
        opts = IngestOptions(class_name=args.class_name, images=tuple(args.images), store=f"{tmp}/store.lbug",
                             preset=args.preset, batch_size=args.batch_size)
        s = run_ingest(opts, classifier=classifier, report=lambda _m: None)
    n = max(1, s.ingested)
    parts = s.seconds_explaining + s.seconds_readout + s.seconds_writing
    rows = [
        ("images ingested", f"{s.ingested}"),
        ("images per second", f"{s.ingested / s.seconds_total:.3f}"),
        ("seconds per image", f"{s.seconds_total / n:.2f}"),
        ("  = fwd+bwd passes' worth", f"{s.seconds_total / n / unit:.0f} x {unit * 1000:.0f} ms"),
        ("share explaining", f"{s.seconds_explaining / parts:.1%}"),
        ("share readout + ablation checks", f"{s.seconds_readout / parts:.1%}"),
        ("share writing (+ aggregates)", f"{s.seconds_writing / parts:.1%}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"ingest speed, preset {args.preset}, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
