"""Store speed: write throughput, the shared-edges query, and how that query grows with a class.

    python -m bench.store_speed                 # 200 images x ~5,000 edges; growth 100 -> 1000 per class
    python -m bench.store_speed --quick         # 40 images; growth 20 -> 100
    python -m bench.store_speed --quick --no-growth --writers 1,2   # writes only, also through write_many
    AMX_NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_PASSWORD=... python -m bench.store_speed

Neo4j is measured when AMX_NEO4J_URI (or --neo4j) names a server; its database is WIPED, so point it
only at a throwaway server such as scripts/neo4j_local.py's. Each backend first writes and discards
20 warm-up images (Neo4j's JIT); the embedded store's write time includes a checkpoint at the end.
`write_many` rows: the same images through `Store.write_many` (--group images per transaction, --writers
parallel transactions). Baselines, measured in the same run:
for writes, building the same rows in Python without a database (`plan_write`); for the query, the same
answer computed with Python dicts over the circuits in memory. Synthetic data: tests/store/synthetic.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from cypher import open_store
from cypher.base import plan_write
from tests.store.conftest import wipe_neo4j
from tests.store.synthetic import Shape, iter_dataset

# ~5,000 FLOW edges per image: original 36 and explanation 28 channels in each of 5 layers
SHAPE = Shape(layers=5, pool=64, keep_original=36, keep_explanation=28, edge_p=0.6, logits=5)
QUERY_RUNS = 5
WARMUP_IMAGES = 20  # written and wiped before timing: Neo4j's JIT needs a few transactions to settle


def fresh_store(backend: str, neo4j_url: str | None, workdir: Path, tag: str):
    if backend == "neo4j":
        wipe_neo4j(neo4j_url)
        store = open_store(neo4j_url)
    else:
        store = open_store(workdir / f"{tag}.lbug")
    store.ensure_schema()
    return store


def settle(store) -> None:
    """The embedded store's pending checkpoint, counted in the write's time (it checkpoints only when its
    WAL passes a threshold, so a short run could otherwise leave that cost out)."""
    if hasattr(store, "checkpoint"):
        store.checkpoint()


def write_all(store, data) -> tuple[int, float]:
    edges, t = 0, time.perf_counter()
    for rec, circuits in data:
        store.write_circuits(rec, circuits)
        edges += sum(len(c.edges) for c in circuits)
    settle(store)
    return edges, time.perf_counter() - t


def write_many(store, data, group: int, writers: int) -> tuple[int, float]:
    data = list(data)
    edges, t = sum(len(c.edges) for _, cs in data for c in cs), time.perf_counter()
    store.write_many(data, images_per_transaction=group if group > 0 else None, writers=writers)
    settle(store)
    return edges, time.perf_counter() - t


def query_ms(store, cls: str) -> tuple[float, int]:
    store.run("shared_edges", cls=cls, min_fraction=0.5)  # warm caches and the plan
    times, rows = [], 0
    for _ in range(QUERY_RUNS):
        t = time.perf_counter()
        rows = len(store.run("shared_edges", cls=cls, min_fraction=0.5))
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times), rows


def python_shared_edges_ms(circuits) -> float:
    """Baseline: the same question over in-memory circuits with dicts (no database)."""
    times = []
    for _ in range(QUERY_RUNS):
        t = time.perf_counter()
        count, total_w = defaultdict(int), defaultdict(float)
        for c in circuits:
            for e in c.edges:
                count[(e.src, e.dst)] += 1
                total_w[(e.src, e.dst)] += e.weight
        sorted(((-n, -total_w[k] / n, k) for k, n in count.items() if n >= 0.5 * len(circuits)))[:100]
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="images in the write test (default 200)")
    parser.add_argument("--classes", type=int, default=10, help="classes they fall into (default 10)")
    parser.add_argument("--growth", default="100,1000", help="images per class for the growth test")
    parser.add_argument("--quick", action="store_true", help="40 images, growth 20,100")
    parser.add_argument("--neo4j", default=os.environ.get("AMX_NEO4J_URI"), help="Neo4j URL (wiped!)")
    parser.add_argument("--group", type=int, default=-1,
                        help="images per transaction for the write_many rows (default: the backend's; 0: skip them)")
    parser.add_argument("--writers", default="1,2", help="parallel writers for the write_many rows (default 1,2)")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth test")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.growth = 40, "20,100"
    growth = [int(x) for x in args.growth.split(",")]
    backends = ["ladybug"] + (["neo4j"] if args.neo4j else [])
    classes = [f"class_{i:02d}" for i in range(args.classes)]
    per_class = max(1, args.images // args.classes)

    data = list(iter_dataset(classes, per_class, shape=SHAPE, seed=1))
    total_edges = sum(len(c.edges) for _, cs in data for c in cs)
    t = time.perf_counter()
    for rec, circuits in data:
        plan_write(rec, circuits)
    plan_rate = total_edges / (time.perf_counter() - t)
    explanations = [c for rec, cs in data if rec.class_name == classes[0] for c in cs if c.kind == "explanation"]
    base_query = python_shared_edges_ms(explanations)

    print(f"synthetic set: {len(data)} images, {total_edges:,} FLOW edges ({total_edges // len(data):,}/image), "
          f"{len(classes)} classes; baselines: rows built at {plan_rate:,.0f} edges/s, "
          f"Python shared-edges {base_query:.1f} ms")
    print()
    print(f"{'backend':8} {'write edges/s':>14} {'x baseline':>10} {'shared-edges ms':>16} {'x baseline':>10} {'rows':>5}")
    with tempfile.TemporaryDirectory(prefix="amx-bench-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            warm = fresh_store(backend, args.neo4j, workdir, "warmup")
            write_all(warm, iter_dataset(["warmup"], WARMUP_IMAGES, shape=SHAPE, seed=3))
            warm.close()
            store = fresh_store(backend, args.neo4j, workdir, "write")
            edges, seconds = write_all(store, data)
            ms, rows = query_ms(store, classes[0])
            store.close()
            print(f"{backend:8} {edges / seconds:14,.0f} {edges / seconds / plan_rate:10.3f} {ms:16.1f} "
                  f"{ms / base_query:10.2f} {rows:5d}", flush=True)
            for writers in ([int(w) for w in args.writers.split(",")] if args.group else []):
                store = fresh_store(backend, args.neo4j, workdir, f"many{writers}")
                edges, seconds = write_many(store, data, args.group, writers)
                store.close()
                group = args.group if args.group > 0 else store.write_many_images
                print(f"  write_many, {group} images/transaction, {writers} writer(s): "
                      f"{edges / seconds:,.0f} edges/s, {edges / seconds / plan_rate:.3f} x baseline", flush=True)

        print()
        print(f"{'backend':8} {'images/class':>12} {'class edges':>12} {'shared-edges ms':>16} {'time x':>7} {'edges x':>8}")
        for backend in backends if not args.no_growth else []:
            first = None
            for n in growth:
                store = fresh_store(backend, args.neo4j, workdir, f"growth{n}")
                edges, _ = write_all(store, iter_dataset(["grow"], n, shape=SHAPE, seed=2))
                ms, _ = query_ms(store, "grow")
                store.close()
                first = first or (ms, edges)
                print(f"{backend:8} {n:12d} {edges:12,d} {ms:16.1f} {ms / first[0]:7.2f} {edges / first[1]:8.2f}",
                      flush=True)
        if args.neo4j:
            wipe_neo4j(args.neo4j)
    return 0


if __name__ == "__main__":
    sys.exit(main())
