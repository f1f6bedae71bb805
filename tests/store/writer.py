"""Writer process for the SIGKILL atomicity test: ingests big synthetic images, resuming like amx-ingest.

    python -m tests.store.writer URL N
prints `writing K` before and `done K SECONDS` after each image's transaction, `skip K` for stored ones.
"""

from __future__ import annotations

import sys
import time

from cypher import open_store

from .synthetic import CONFIG, MODEL, Shape, make_dataset

BIG = Shape(layers=5, pool=48, keep_original=40, keep_explanation=30, edge_p=0.9)


def dataset(n: int):
    return make_dataset(["kill test"], n, shape=BIG, seed=11)


def main(argv: list[str]) -> int:
    url, n = argv[0], int(argv[1])
    with open_store(url) as store:
        store.ensure_schema()
        for k, (rec, circuits) in enumerate(dataset(n)):
            if store.has_circuit(rec.id, MODEL, CONFIG):
                print(f"skip {k}", flush=True)
                continue
            print(f"writing {k}", flush=True)
            t = time.perf_counter()
            store.write_circuits(rec, circuits)
            print(f"done {k} {time.perf_counter() - t:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
