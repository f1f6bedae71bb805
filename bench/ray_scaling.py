"""Ray executor scaling: images per second of `amx-ingest --executor ray` with 1 and 2 workers (one CPU
each) in the same run, their ratio, and the driver's overhead per image.

    .venv/bin/python bench/ray_scaling.py [--images data/samples] [--limit 8] [--workers 1,2] [--batch-size 2]
                                          [--preset default] [--steps N] [--ray-address ADDR] [--local]

Each worker count ingests the same images into a fresh embedded store, on one Ray started here (or the
cluster at --ray-address). Rates count from the moment every worker has loaded the model to the last
write (starting workers is reported apart). The driver's overhead per image is its own CPU time over
that span (decoding, hashing, pictures, writes, Ray's bookkeeping) and its wall time not spent waiting for
the workers. Each worker's CPU time says how much of a core it got: on a machine shared with other jobs,
two workers on two cores scale only as far as the cores are free (the load average is printed). `--local` adds the local executor (one process, torch on one thread) as a same-run baseline.
The machine is shared and noisy: the ratio is what compares across runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import ingest.executors as executors
from amx_core.models import load_classifier
from ingest.pipeline import IngestOptions, run_ingest


class TimedRayExecutor(executors.RayExecutor):
    """The Ray executor, noting when its workers are ready and when the last batch is written."""

    last: TimedRayExecutor | None = None

    def __init__(self, *args, **kw):
        t = time.perf_counter()
        super().__init__(*args, **kw)
        self.seconds_starting = time.perf_counter() - t
        self.t_ready, self.cpu_ready = time.perf_counter(), time.process_time()
        self.workers_cpu_ready = self._workers_cpu()
        TimedRayExecutor.last = self

    def _workers_cpu(self) -> float:
        return sum(self._ray.get([a.cpu_seconds.remote() for a in self.actors]))

    def finish(self) -> None:
        super().finish()
        self.t_done, self.cpu_done = time.perf_counter(), time.process_time()
        self.workers_cpu = self._workers_cpu() - self.workers_cpu_ready


def run(args, classifier, executor: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        opts = IngestOptions(class_name=args.class_name, images=tuple(args.images), store=f"{tmp}/store.lbug",
                             recursive=True, limit=args.limit, preset=args.preset, steps=args.steps,
                             batch_size=args.batch_size, executor=executor, workers=workers,
                             ray_address=args.ray_address if executor == "ray" else None)
        t, cpu = time.perf_counter(), time.process_time()
        s = run_ingest(opts, classifier=classifier, report=print)
        t_end, cpu_end = time.perf_counter(), time.process_time()
    n = max(1, s.ingested)
    if executor == "ray":
        ex = TimedRayExecutor.last
        span, cpu_span = ex.t_done - ex.t_ready, ex.cpu_done - ex.cpu_ready
        starting, not_waiting = ex.seconds_starting, span - ex.seconds_waiting
        worker_cpu, share = ex.workers_cpu / n, ex.workers_cpu / (workers * span)
    else:
        span, cpu_span, starting = t_end - t, cpu_end - cpu, 0.0
        not_waiting = worker_cpu = share = float("nan")
    return {"name": f"{executor} x{workers}" if executor == "ray" else "local", "images": s.ingested,
            "rate": s.ingested / span, "span": span, "starting": starting,
            "worker_s": (s.seconds_explaining + s.seconds_readout) / n, "worker_cpu": worker_cpu, "share": share,
            "driver_cpu": cpu_span / n if executor == "ray" else float("nan"), "driver_wall": not_waiting / n,
            "write": s.seconds_writing / n}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="+", default=["data/samples"])
    p.add_argument("--class-name", default="cheetah")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--local", action="store_true", help="also time the local executor (same images)")
    args = p.parse_args(argv)
    missing = [d for d in args.images if not Path(d).exists()]
    if missing:
        print(f"missing {missing}: run `make samples` first")
        return 2
    import ray
    import torch

    counts = [int(w) for w in args.workers.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)  # the local baseline explains on one thread, like one worker
    if args.ray_address:
        ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
    executors.RayExecutor = TimedRayExecutor  # make_executor builds this one
    try:
        classifier = load_classifier(args.model)
        rows = [run(args, classifier, "local", 1)] if args.local else []
        rows += [run(args, classifier, "ray", w) for w in counts]
    finally:
        ray.shutdown()
    print(f"\nRay scaling: {rows[-1]['images']} images, {args.model}, preset {args.preset}"
          f"{f', {args.steps} steps' if args.steps else ''}, batch {args.batch_size}, {os.cpu_count()} CPUs here")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average now (1, 5, 15 min): {load}")
    head = ("executor", "images/s", "span s", "start s", "worker s/img", "worker CPU s/img", "core share/worker",
            "driver CPU s/img", "driver busy s/img", "write s/img")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([r["name"], f"{r['rate']:.3f}", f"{r['span']:.1f}", f"{r['starting']:.1f}",
                          f"{r['worker_s']:.2f}", f"{r['worker_cpu']:.2f}", f"{r['share']:.2f}", f"{r['driver_cpu']:.3f}", f"{r['driver_wall']:.3f}",
                          f"{r['write']:.3f}"]))
    ray_rows = [r for r in rows if r["name"].startswith("ray")]
    if len(ray_rows) >= 2:
        a, b = ray_rows[0], ray_rows[-1]
        print(f"speed-up {b['name']} / {a['name']}: {b['rate'] / a['rate']:.2f}x (images/s, same run); "
              f"CPU each worker got: {a['share']:.2f} vs {b['share']:.2f} of a core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
