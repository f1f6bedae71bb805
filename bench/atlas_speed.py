"""What the channel atlas costs at ingest: the same images ingested with the atlas on and off, in one run.

    .venv/bin/python bench/atlas_speed.py [--images data/samples/cheetah] [--limit 6] [--steps N] [--rounds 2]

Each round ingests the images twice into fresh embedded stores (atlas off, then on; the order alternates
between rounds, so warm-up and machine noise fall on both), and prints seconds per image for each, their
ratio (wall time, and this process's CPU time, which other load on a shared machine hardly moves), the atlas's own time (cutting and encoding the patches) as a share of the atlas-on ingest, and the
store's growth (patch bytes per image). The peaks are recorded at readout in both arms (one max per kept
channel); the patches and their bytes are what the atlas adds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from amx_core.models import load_classifier
from cypher import open_store
from ingest.pipeline import IngestOptions, run_ingest


def _ingest(classifier, args, folder: str, atlas: bool):
    with tempfile.TemporaryDirectory() as tmp:
        url = f"ladybug://{tmp}/store.lbug"
        opts = IngestOptions(class_name=args.class_name, images=(folder,), store=url, preset=args.preset,
                             batch_size=args.batch_size, limit=args.limit, steps=args.steps, atlas=atlas)
        t, cpu = time.perf_counter(), time.process_time()
        s = run_ingest(opts, classifier=classifier, report=lambda _m: None)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        with open_store(url, read_only=True) as store:
            rows = store.run_cypher("MATCH (a:Act) WHERE a.patch_jpeg IS NOT NULL RETURN a.patch_jpeg AS p")
        patch_bytes = sum(len(r["p"]) for r in rows)
    return s, seconds, cpu, patch_bytes, len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="data/samples/cheetah")
    p.add_argument("--class-name", default="cheetah")
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=None, help="override the preset's optimisation steps")
    p.add_argument("--limit", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    if not Path(args.images).exists():
        print(f"missing {args.images}: run `make samples` first")
        return 2
    classifier = load_classifier()
    off_s, on_s, atlas_s, n_on = 0.0, 0.0, 0.0, 0
    write = {True: 0.0, False: 0.0}
    cpus = {True: 0.0, False: 0.0}  # this process's CPU seconds: far less sensitive to other load than wall time
    walls: dict[bool, list[float]] = {True: [], False: []}
    patch_bytes = patches = 0
    for r in range(args.rounds):
        for atlas in ((False, True) if r % 2 == 0 else (True, False)):
            s, seconds, cpu, nbytes, npatches = _ingest(classifier, args, args.images, atlas)
            write[atlas] += s.seconds_writing
            cpus[atlas] += cpu
            walls[atlas].append(seconds)
            if atlas:
                on_s, atlas_s, n_on = on_s + seconds, atlas_s + s.seconds_atlas, n_on + s.ingested
                patch_bytes, patches = patch_bytes + nbytes, patches + npatches
            else:
                off_s += seconds
            print(f"  round {r + 1} atlas {'on ' if atlas else 'off'}: {s.ingested} images, {seconds:.1f} s wall, "
                  f"{cpu:.1f} s CPU", flush=True)
    n = max(1, n_on)
    rows = [
        ("images per arm and round", f"{n // args.rounds}"),
        ("seconds per image, atlas off", f"{off_s / n:.2f}"),
        ("seconds per image, atlas on", f"{on_s / n:.2f}"),
        ("ratio on / off, wall (sum of rounds)", f"{on_s / off_s:.3f}"),
        ("ratio on / off, wall (best round each)", f"{min(walls[True]) / min(walls[False]):.3f}"),
        ("ratio on / off, this process's CPU time", f"{cpus[True] / cpus[False]:.3f}"),
        ("atlas's own time per image (cut + encode)", f"{atlas_s / n * 1000:.1f} ms"),
        ("atlas's own time / atlas-on ingest", f"{atlas_s / on_s:.2%}"),
        ("store writes per image, atlas off / on", f"{write[False] / n * 1000:.0f} / {write[True] / n * 1000:.0f} ms"),
        ("atlas's own time + extra writing / atlas-off ingest",
         f"{(atlas_s + write[True] - write[False]) / off_s:.2%}"),
        ("patches per image", f"{patches / n:.0f}"),
        ("patch bytes per image", f"{patch_bytes / n / 1024:.1f} KiB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"atlas cost at ingest, preset {args.preset}, steps {args.steps or 'preset'}, "
          f"torch threads {torch.get_num_threads()}")
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
