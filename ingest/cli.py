"""`amx-ingest --class EntleBucher --images dir/`: explain every image of a class folder and write the
original's and the explanation's circuits into the graph store (embedded by default, Neo4j by URL)."""

from __future__ import annotations

import argparse
import sys

from amx_core.cli.options import add_common_flags, add_model_options, model_options, setup_logging
from amx_core.errors import run_cli

from .pipeline import IngestOptions, run_ingest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amx-ingest", description=__doc__)
    p.add_argument("--class", dest="class_name", required=True,
                   help="class of the folder: a name of the model's labels (ImageNet's by default) or an index")
    p.add_argument("--images", required=True, nargs="+", help="image folder(s) or files")
    p.add_argument("--store", default=None,
                   help="bolt://host:7687 or neo4j://... for Neo4j; a path or ladybug://path for the embedded "
                        "store (default: $AMX_STORE or ~/.local/share/amx/store.lbug)")
    p.add_argument("--preset", default=None, help="compact | default (the default) | relaxed | object")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (in sorted order)")
    p.add_argument("--force", action="store_true", help="redo images already stored with this model and config")
    p.add_argument("--workers", type=int, default=2,
                   help="threads that read and decode images; with --executor ray also the number of Ray workers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="optimisation steps per batch (default: the preset's)")
    p.add_argument("--explain-target", choices=("class", "predicted"), default="class",
                   help="explain the given class (default) or each image's own top-1 prediction")
    p.add_argument("--masker", default=None,
                   help="amortised mode: a mask generator file from amx-train-masker (no per-image optimisation)")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="with --masker: per-image refinement steps after the generator pass (default 0)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="explain in this process (default) or on Ray workers that each load the model once")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: the cluster (e.g. 10.0.0.5:6379; default $RAY_ADDRESS, else a Ray "
                        "started on this machine)")
    p.add_argument("--gpus-per-worker", type=float, default=None,
                   help="with --executor ray: GPUs per worker (0.5: two per GPU; default 1 with --device cuda, else 0)")
    add_model_options(p)
    add_common_flags(p, "amx-ingest")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args, "amx-ingest")
    opts = IngestOptions(
        class_name=args.class_name, images=tuple(args.images), store=args.store, model=args.model,
        weights=args.weights, preset=args.preset, batch_size=args.batch_size, device=args.device,
        recursive=args.recursive, limit=args.limit, force=args.force, workers=args.workers, seed=args.seed,
        explain_target=args.explain_target, steps=args.steps, masker=args.masker, refine_steps=args.refine_steps,
        model_options=model_options(args), executor=args.executor, ray_address=args.ray_address,
        gpus_per_worker=args.gpus_per_worker, quiet=args.quiet,
    )
    return run_cli("amx-ingest", lambda: _ingest(opts),
                   interrupted="stored images are complete. Rerun the same command to resume.")


def _ingest(opts: IngestOptions) -> int:
    summary = run_ingest(opts)
    if not opts.quiet:
        print(f"amx-ingest summary for class {opts.class_name!r}:")
        print(summary.table())
    if summary.interrupted:
        print("amx-ingest: stopped early; rerun the same command to resume (stored images are skipped).")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
