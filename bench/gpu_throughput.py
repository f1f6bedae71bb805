"""Explain throughput on one device, ready for a machine with CUDA: images per second of `explain` (a preset,
`default` unless --preset) and of the amortised mode (`explain_amortised`, a masker file or one trained
here for --masker-epochs) at batch 16, 32, 64 and 128, with peak GPU memory.

    .venv/bin/python bench/gpu_throughput.py [--device cuda] [--images data/samples] [--batch-sizes 16,32,64,128]
        [--limit N] [--preset default] [--steps N] [--masker FILE] [--modes explain,amortised]
    .venv/bin/python bench/gpu_throughput.py --device cpu --limit 4     # a quick run on a CPU

`--limit N` times at most N images per measurement (a batch larger than N is measured at N, and batch
sizes that come out the same are measured once). The photos are cycled when there are fewer than a batch.
Both explainers take a batch one image at a time (so an image's result does not depend on its batch), so
the batch size changes little here; several Ray workers per GPU (`amx-ingest --executor ray
--gpus-per-worker 0.25`) are what fills a large GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.config import get_preset  # noqa: E402
from amx_core.explain import explain, explain_amortised, load_masker, train_masker  # noqa: E402
from amx_core.images import discover_images, load_image  # noqa: E402
from amx_core.models import check_device, load_classifier  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(fn, pixels: torch.Tensor, device: str) -> tuple[float, float | None]:
    """Seconds for fn(pixels) and the peak GPU memory (MiB) it took (None on a CPU)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    fn(pixels)
    sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return seconds, peak


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--images", nargs="+", default=[str(ROOT / "data" / "samples")])
    p.add_argument("--batch-sizes", default="16,32,64,128")
    p.add_argument("--limit", type=int, default=None, help="at most N images per measurement")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=None, help="override the preset's optimisation steps")
    p.add_argument("--masker", default=None, help="a masker file for the amortised mode (default: train one)")
    p.add_argument("--masker-epochs", type=int, default=1)
    p.add_argument("--modes", default="explain,amortised")
    args = p.parse_args(argv)
    device = check_device(args.device)
    files = discover_images(args.images, recursive=True)
    if not files:
        print(f"no images under {args.images}: run `make samples` first")
        return 2
    classifier = load_classifier(args.model, device=device)
    sizes = sorted({min(int(b), args.limit or int(b)) for b in args.batch_sizes.split(",")})
    need = max(sizes)
    photos = [classifier.preprocess(load_image(f)) for f in files[:need]]
    pixels = torch.stack([photos[i % len(photos)] for i in range(need)]).to(device)
    config = get_preset(args.preset)
    if args.steps:
        config = config.with_(steps=args.steps)
    modes = args.modes.split(",")

    fns = {}
    if "explain" in modes:
        fns["explain"] = lambda x: explain(classifier, x, config=config)
    masker_note = ""
    if "amortised" in modes:
        if args.masker:
            masker = load_masker(args.masker, model=classifier.spec.name, device=device)
            masker_note = f"masker {args.masker}"
        else:
            t = time.perf_counter()
            masker = train_masker(classifier, pixels[: min(len(photos), 16)], config=config,
                                  epochs=args.masker_epochs, batch_size=4)
            masker_note = (f"masker trained here: {args.masker_epochs} epoch(s) on {min(len(photos), 16)} photos "
                           f"in {time.perf_counter() - t:.1f} s")
        fns["amortised"] = lambda x: explain_amortised(classifier, x, masker)

    # warm-up (CUDA context, kernels, allocator): one image through each mode, a 2-step explain
    explain(classifier, pixels[:1], config=config.with_(steps=2))
    if "amortised" in fns:
        fns["amortised"](pixels[:1])

    rows = []
    for mode, fn in fns.items():
        for b in sizes:
            seconds, peak = measure(fn, pixels[:b], device)
            rows.append((mode, b, seconds, b / seconds, peak))
            print(f"  {mode} batch {b}: {b / seconds:.3f} images/s", flush=True)

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    asked = args.batch_sizes + (f" (capped at --limit {args.limit})" if args.limit else "")
    print(f"\nExplain throughput: {args.model} on {name}, preset {args.preset}"
          f"{f', {args.steps} steps' if args.steps else ''}, batch sizes {asked}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    if masker_note:
        print(masker_note)
    print("mode | batch | seconds | images/s | peak GPU memory (MiB)")
    for mode, b, seconds, rate, peak in rows:
        print(f"{mode} | {b} | {seconds:.2f} | {rate:.3f} | {'-' if peak is None else f'{peak:.0f}'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
