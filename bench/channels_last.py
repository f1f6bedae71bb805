"""Why the classifier runs channels_last on CPU: forward+backward time per image, contiguous vs
channels_last, measured alternately in the same run.

    .venv/bin/python bench/channels_last.py [--model efficientnet_lite0] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from amx_core.models import load_classifier


def fwd_bwd_seconds(classifier, x: torch.Tensor) -> float:
    start = time.perf_counter()
    y = x.clone().requires_grad_(True)
    classifier(y).sum().backward()
    return (time.perf_counter() - start) / x.shape[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    clf = load_classifier(args.model)
    x = torch.rand(args.batch, 3, 224, 224)
    times: dict[str, list[float]] = {"contiguous": [], "channels_last": []}
    for _ in range(args.repeats + 1):  # the first round warms up both layouts and is dropped
        for layout, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
            clf.net.to(memory_format=fmt)
            times[layout].append(fwd_bwd_seconds(clf, x))
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    print(f"{args.model}, batch {args.batch}, torch threads {torch.get_num_threads()}, median of {args.repeats}")
    for k, v in med.items():
        print(f"  {k:14s} {v * 1000:7.1f} ms/img fwd+bwd")
    print(f"  speed-up of channels_last: {med['contiguous'] / med['channels_last']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
