"""Soak test (issue 15 part 6): amx-ingest into Neo4j under concurrent readers, killed once, rerun.

A child process (tests/ingest/killable.py, the tiny classifier, 2 optimisation steps) ingests SOAK_IMAGES
generated pictures into a real Neo4j (loopback only) while READERS threads keep running named queries on
read-only stores and console statements through explorer.console.run (the explorer's guard and its own
short-lived connection). The child kills itself with SIGKILL when it starts write number KILL_AT; the
same command is rerun to the end, the readers still running. Then:
- nothing lost: exactly SOAK_IMAGES images, the rerun ingested exactly those the killed run had not written;
- nothing half-written: every image has both circuits with all their channels, edges and logit links, and
  no reader ever saw an image with other than two circuits (one transaction per image);
- the class summaries equal a recomputation from the stored circuits;
- no reader error, except a StoreError whose message is one clear line.
Bounded: SOAK_IMAGES images, a wall-clock limit on each child, a few minutes in all on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from amx_core.errors import StoreError
from cypher import open_store
from explorer import console
from tests.ingest.summaries import assert_summaries_fresh
from tests.store.conftest import wipe_neo4j

ROOT = Path(__file__).resolve().parents[2]
SOAK_IMAGES = 200
KILL_AT = 131  # the killed run writes 130 images, the rerun the other 70
READERS = 4
CHILD_LIMIT_S = 600  # a guard against a hang, not a speed test: the killed run takes 2-4 min on a shared 2-core machine
NODES, LINKS = 56, 16  # per circuit of the tiny model (tests/ingest/test_ingest.py); edges are sparse: each
# circuit holds as many FLOW edges as it recorded (n_edges) when written
HALF_WRITTEN = ("MATCH (i:Image) OPTIONAL MATCH (i)-[:HAS_CIRCUIT]->(c:Circuit) WITH i, count(c) AS n "
                "WHERE n <> 2 RETURN count(i) AS bad")
PER_CIRCUIT = ("MATCH (i:Image)-[:HAS_CIRCUIT]->(c:Circuit) "
               "OPTIONAL MATCH (c)-[:HAS]->(a:Act) WITH i, c, count(a) AS acts "
               "OPTIONAL MATCH (c)-[:HAS]->(:Act)-[f:FLOW]->(:Act) WITH i, c, acts, count(f) AS flows "
               "OPTIONAL MATCH (c)-[:HAS]->(:Act)-[l:LOGIT]->(:Class) "
               "RETURN i.id AS image, c.kind AS kind, c.n_edges AS edges, acts, flows, count(l) AS links")

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def soak_images(folder: Path, n: int, size: int = 72) -> list[Path]:
    """`n` distinct pictures (seeded noise under a bright square), fast to make."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        a = np.random.default_rng(i).integers(0, 200, (size, size, 3), dtype=np.uint8)
        o = i % (size - 24)
        a[o:o + 24, o:o + 24] = (250, 240, 30)
        paths.append(folder / f"soak{i:03d}.png")
        Image.fromarray(a).save(paths[-1])
    return paths


class Readers:
    """READERS threads reading until stopped; each records its reads and any error (as a one-line text)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.reads = [0] * READERS
        self.store_errors: list[str] = []  # StoreError messages (allowed when one clear line)
        self.failures: list[str] = []  # anything else, or a reader that saw a half-written image
        self.threads = [threading.Thread(target=self._loop, args=(k,), daemon=True) for k in range(READERS)]

    def __enter__(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a reader did not stop"

    def _loop(self, k: int) -> None:
        store = None
        step = 0
        while not self.stop.is_set():
            try:
                if store is None:
                    store = open_store(self.url, read_only=True)
                self._read(store, k, step)
                self.reads[k] += 1
            except StoreError as e:
                self.store_errors.append(str(e))
            except Exception:
                self.failures.append(traceback.format_exc(limit=3))
            step += 1
            self.stop.wait(0.2)
        if store is not None:
            store.close()

    def _read(self, store, k: int, step: int) -> None:
        what = (k + step) % 6
        if what == 0:  # console: never a half-written image, whatever the moment
            rows = console.run(self.url, HALF_WRITTEN, timeout_s=30).rows
            if rows != [{"bad": 0}]:
                self.failures.append(f"reader saw half-written images: {rows}")
        elif what == 1:
            console.run(self.url, "MATCH (i:Image) RETURN i.class AS class, count(*) AS images", timeout_s=30)
        elif what == 2:
            stats = store.run("store_stats")[0]
            if stats["circuits"] != 2 * stats["images"]:  # one read transaction: counts agree
                self.failures.append(f"store_stats saw {stats['images']} images, {stats['circuits']} circuits")
        elif what == 3:
            images = store.run("class_images", cls="cheetah", limit=5)
            if images:
                store.run("image_summary", image_id=images[-1]["image_id"])
                store.run("image_circuit", image_id=images[-1]["image_id"], kind="explanation")
        elif what == 4:
            store.run("shared_edges", cls="cheetah", kind="explanation", min_fraction=0.5, limit=50)
            store.run("classes")
        else:
            store.run("channel_frequency", cls="cheetah", kind="explanation", min_fraction=0.0, limit=50)


def _child(url: str, folder: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.ingest.killable", url, str(folder), str(kill_at)],
                          cwd=ROOT, capture_output=True, text=True, timeout=CHILD_LIMIT_S)


def test_ingest_under_concurrent_readers_killed_once_loses_nothing(neo4j_url, tmp_path):
    wipe_neo4j(neo4j_url)
    folder = tmp_path / "imgs"
    soak_images(folder, SOAK_IMAGES)
    start = time.monotonic()
    with Readers(neo4j_url) as readers:
        killed = _child(neo4j_url, folder, KILL_AT)
        assert killed.returncode == -9, killed.stderr[-2000:]
        with open_store(neo4j_url, read_only=True) as s:
            assert s.stats()["images"] == KILL_AT - 1
        rerun = _child(neo4j_url, folder, 0)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        time.sleep(1.0)  # the readers also read the finished store
    seconds = time.monotonic() - start
    assert rerun.stdout.split() == [str(SOAK_IMAGES - KILL_AT + 1), str(KILL_AT - 1)]  # ingested, skipped

    with open_store(neo4j_url, read_only=True) as s:
        stats = s.stats()
        per_circuit = s.run_cypher(PER_CIRCUIT)
    assert {k: stats[k] for k in ("images", "circuits", "acts", "flow_edges", "logit_links")} == {
        "images": SOAK_IMAGES, "circuits": 2 * SOAK_IMAGES, "acts": 2 * SOAK_IMAGES * NODES,
        "flow_edges": sum(r["edges"] for r in per_circuit), "logit_links": 2 * SOAK_IMAGES * LINKS}
    assert len(per_circuit) == 2 * SOAK_IMAGES
    assert {(r["acts"], r["links"]) for r in per_circuit} == {(NODES, LINKS)}
    assert all(r["flows"] == r["edges"] > 0 for r in per_circuit)
    assert {r["kind"] for r in per_circuit} == {"original", "explanation"}
    assert len({r["image"] for r in per_circuit}) == SOAK_IMAGES
    assert_summaries_fresh(neo4j_url)

    assert not readers.failures, readers.failures[:3]
    unclear = [e for e in readers.store_errors if "\n" in e.strip() or "Traceback" in e or not e.strip()]
    assert not unclear, unclear[:3]
    assert len(readers.store_errors) <= sum(readers.reads) // 10, readers.store_errors[:5]  # errors stay rare
    assert min(readers.reads) >= 10, readers.reads  # every reader kept reading throughout
    print(f"soak: {SOAK_IMAGES} images in {seconds:.0f} s, reads per reader {readers.reads}, "
          f"store errors {len(readers.store_errors)}")
