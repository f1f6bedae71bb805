"""Class questions at scale: each answered from the class summaries against its scanning form, same store.

    python -m bench.class_questions_speed                       # 1,000 and 10,000 images in one class
    python -m bench.class_questions_speed --sizes 200,1000      # quicker
    AMX_NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_PASSWORD=... python -m bench.class_questions_speed

For each size, a fresh store gets that many synthetic images in class "grow" and 100 in class "other"
(so the distinctive questions have a rest of the store), shaped like the default readout's circuits on
efficientnet_lite0 (5 tapped layers, 16 channels kept per layer out of 256, ~350 edges per circuit;
make demo's circuits hold 80 nodes and 290-390 edges), written with `Store.write_many`. Then it rebuilds the summaries (timed: amx-ingest
does this once at the end of a run) and times every class question the explorer asks by default, from
the summaries (median of 5 after one warm-up) and in its scanning form (once: it reads every circuit),
and checks the two answers agree row by row. On Neo4j it also times each question read record by record
("records ms", the driver's usual path) against the packed single record the store uses. Neo4j's database is WIPED: point it at a throwaway server.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path

from bench.store_speed import fresh_store
from cypher import open_store
from cypher.base import Store
from cypher.queries import get_query, scan_query
from tests.store.conftest import wipe_neo4j
from tests.store.synthetic import Shape, iter_dataset

SHAPE = Shape(layers=5, pool=256, keep_original=16, keep_explanation=16, edge_p=0.35, logits=5, atlas=False)
RUNS = 5
QUESTIONS = {  # the Class and Compare pages' default calls
    "shared_edges": {"cls": "grow", "min_fraction": 0.5, "limit": 300},
    "channel_frequency": {"cls": "grow", "min_fraction": 0.0, "limit": 5000},
    # the summary keeps the pathways of the edges held by >= 1% of the class's images (cypher/summaries.py), so
    # it answers exactly from a support of 1%
    "frequent_pathways": {"cls": "grow", "min_fraction": 0.01, "limit": 100},
    "distinctive_channels": {"cls": "grow", "min_fraction": 0.5, "limit": 5000},
    "distinctive_edges": {"cls": "grow", "min_fraction": 0.5, "limit": 100},
    "compare_classes": {"cls_a": "grow", "cls_b": "other", "min_fraction": 0.5, "max_fraction": 0.1},
}


def batched(items, n: int):
    """Lists of up to n items (itertools.batched arrives in Python 3.12)."""
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def same_rows(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return False
        for k, v in x.items():
            w = y[k]
            if isinstance(v, float) or isinstance(w, float):
                if not math.isclose(float(v), float(w), rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif v != w:
                return False
    return True


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return 1000 * (time.perf_counter() - t), out


def reused(url: str, images: int):
    """The Neo4j store at `url` when it already holds exactly `images` images (a --keep run's), else None."""
    store = open_store(url)
    held = store.run_cypher("MATCH (i:Image) RETURN count(i) AS n")[0]["n"]
    if held == images:
        return store
    store.close()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="images in the measured class (default 1000,10000)")
    parser.add_argument("--others", type=int, default=100, help="images in the other class (default 100)")
    parser.add_argument("--neo4j", default=os.environ.get("AMX_NEO4J_URI"), help="Neo4j URL (wiped!)")
    parser.add_argument("--backends", default=None, help="comma list (default: ladybug, and neo4j when a URL is set)")
    parser.add_argument("--pool", type=int, default=SHAPE.pool,
                        help=f"channels per layer the circuits draw from (default {SHAPE.pool}; a third of them are "
                             "the class's preferred ones): fewer make a class's circuits more alike and its "
                             "summary smaller")
    parser.add_argument("--keep", action="store_true", help="leave the last Neo4j store in place (to measure its size)")
    parser.add_argument("--reuse", action="store_true",
                        help="Neo4j: a store kept by --keep that holds exactly this size's images is not rewritten "
                             "(its summaries are rebuilt if stale); for re-timing the questions at 10,000 images")
    parser.add_argument("--scan-up-to", type=int, default=None,
                        help="time the scanning forms (and check equality) only up to this many images (default: "
                             "every size); above it, the summaries alone")
    args = parser.parse_args(argv)
    shape = replace(SHAPE, pool=args.pool)
    sizes = [int(x) for x in args.sizes.split(",")]
    backends = args.backends.split(",") if args.backends else ["ladybug"] + (["neo4j"] if args.neo4j else [])
    print(f"synthetic circuits: {shape.layers} layers, {shape.keep_explanation} of {shape.pool} channels kept per "
          f"layer, edge probability {shape.edge_p}")
    print(f"{'backend':8} {'images':>7} {'edges':>11} {'write s':>8} {'rebuild s':>9} {'question':22} "
          f"{'summary ms':>10} {'records ms':>10} {'scan ms':>10} {'scan/summary':>12} {'rows':>5} {'equal':>5}", flush=True)
    with tempfile.TemporaryDirectory(prefix="amx-bench-") as tmp:
        for backend in backends:
            for n in sizes:
                store = reused(args.neo4j, n + args.others) if args.reuse and backend == "neo4j" else None
                edges, write_s = 0, float("nan")
                if store is None:
                    store = fresh_store(backend, args.neo4j, Path(tmp), f"q{n}")
                    t = time.perf_counter()
                    for dataset in (iter_dataset(["grow"], n, shape=shape, seed=4),
                                    iter_dataset(["other"], args.others, shape=shape, seed=5)):
                        for chunk in batched(dataset, 200):  # write_many's groups, 200 images in memory at a time
                            store.write_many(chunk, writers=2 if backend == "neo4j" else 1)
                            edges += sum(len(c.edges) for _, circuits in chunk for c in circuits)
                    write_s = time.perf_counter() - t
                scan = args.scan_up_to is None or n <= args.scan_up_to
                rebuild_ms, _ = timed(store.rebuild_stale)
                for name, params in QUESTIONS.items():
                    # Neo4j packs a named query's rows into one record (Neo4jStore.run_query); on Neo4j the same
                    # query is also read record by record (the base class's path), alternating with the packed
                    # runs so that the server's background work falls on both alike
                    packed = lambda name=name, params=params, store=store: store.run(name, **params)  # noqa: E731
                    records = (lambda name=name, params=params, store=store:  # noqa: E731
                               Store.run_query(store, get_query(name), **params)) if backend == "neo4j" else None
                    packed()  # warm the plans and the caches
                    if records:
                        records()
                    times, record_times, rows = [], [], []
                    for _ in range(RUNS):
                        ms, rows = timed(packed)
                        times.append(ms)
                        if records:
                            record_times.append(timed(records)[0])
                    summary_ms = statistics.median(times)
                    records_ms = statistics.median(record_times) if record_times else float("nan")
                    scan_ms, equal = float("nan"), "-"
                    if scan:
                        scan_ms, scanned = timed(lambda name=name, params=params, store=store:
                                                 store.run_query(scan_query(name), **params))
                        equal = "yes" if same_rows(rows, scanned) else "NO"
                    print(f"{backend:8} {n:7d} {edges:11,d} {write_s:8.0f} {rebuild_ms / 1000:9.1f} {name:22} "
                          f"{summary_ms:10.1f} {records_ms:10.1f} {scan_ms:10.0f} {scan_ms / summary_ms:12.0f} {len(rows):5d} "
                          f"{equal:>5}", flush=True)
                store.close()
        if args.neo4j and "neo4j" in backends and not args.keep:
            wipe_neo4j(args.neo4j)
    return 0


if __name__ == "__main__":
    sys.exit(main())
