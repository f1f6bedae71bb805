"""Store behaviour on both backends: replace and delete, atomicity under SIGKILL, hostile strings,
read-only refusal, and clear errors (not hangs) when Neo4j is unreachable or goes away."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from amx_core.circuit import Edge
from amx_core.errors import StoreError
from cypher import default_store_url, open_store
from cypher.backends.ladybug import LadybugStore

from .reference import Reference
from .synthetic import CONFIG, MODEL, make_dataset
from .writer import dataset as writer_dataset

ROOT = Path(__file__).resolve().parents[2]
DATA = make_dataset(["wren", "robin"], 3, seed=3)
HOSTILE = ["it's", 'say "cheese"', "back`tick`", "'}) DETACH DELETE n //", "\"}) MATCH (n) DETACH DELETE n //",
           "ünïcødé 猫 🐈", "$cls", "line\nbreak", "semi; colon", "\\backslash"]


def counts(store) -> dict[str, int]:
    return store.stats()


# -- replace and delete -------------------------------------------------------------------------

def test_reingesting_the_same_image_leaves_the_same_counts(open_):
    s = open_()
    for rec, circuits in DATA:
        s.write_circuits(rec, circuits)
    before = counts(s)
    assert before == Reference(DATA).store_stats(aggregates=0)[0]
    for rec, circuits in DATA:
        s.write_circuits(rec, circuits)
    assert counts(s) == before
    s.ensure_schema()  # idempotent, data untouched
    assert counts(s) == before


def test_rewriting_an_image_replaces_its_circuits_whole(open_):
    s = open_()
    for rec, circuits in DATA:
        s.write_circuits(rec, circuits)
    rec, (original, explanation) = DATA[0]
    smaller = dataclasses.replace(explanation, edges=explanation.edges[:2], logit_links=[])
    s.write_circuits(dataclasses.replace(rec, path="/moved/photo.jpg"), [smaller])
    expected = Reference([(rec, [smaller])] + DATA[1:]).store_stats(aggregates=0)[0]
    got = counts(s)
    assert got.pop("channels") >= expected.pop("channels")  # the channel catalogue only grows
    assert got == expected
    assert s.run("image_summary", image_id=rec.id)[0]["n_edges"] == 2
    assert s.run("image_circuit", image_id=rec.id, kind="original") == []
    assert s.get_image(rec.id).path == "/moved/photo.jpg"


def test_delete_removes_every_node_and_edge_of_the_image(open_):
    s = open_()
    for rec, circuits in DATA:
        s.write_circuits(rec, circuits)
    gone = DATA[1][0].id
    assert s.delete_image(gone) is True
    assert s.delete_image(gone) is False
    left = Reference([d for d in DATA if d[0].id != gone])
    # every write marked its class's summary stale; the delete rebuilt all of them
    expected = left.store_stats(aggregates=left.aggregates())[0]
    got = counts(s)
    assert got.pop("channels") >= expected.pop("channels")  # the channel catalogue only grows
    assert got == expected
    assert s.get_image(gone) is None
    assert not s.has_circuit(gone, MODEL, CONFIG)
    for name in ("image_summary", "image_nodes", "image_circuit", "image_logits"):
        assert s.run(name, image_id=gone) == []
    assert all(r["image_id"] != gone for r in s.run("class_images", cls=DATA[1][0].class_name))


def test_get_image_round_trips_the_record_and_pictures(open_):
    s = open_()
    rec, circuits = DATA[0]
    s.write_circuits(rec, circuits)
    assert s.get_image(rec.id) == rec
    assert s.get_image("f" * 64) is None
    assert s.has_circuit(rec.id, MODEL, CONFIG)
    assert not s.has_circuit(rec.id, MODEL, "another-config")


@pytest.mark.parametrize("fault, message", [
    (lambda c: dataclasses.replace(c, edges=c.edges + [Edge("nowhere#1", c.edges[0].dst, 1.0)]), "does not keep"),
    (lambda c: dataclasses.replace(c, edges=c.edges + [c.edges[0]]), "repeats edge"),
    (lambda c: dataclasses.replace(c, image_id="x" * 64), "belongs to image"),
])
def test_bad_circuits_are_refused_before_anything_is_written(open_, fault, message):
    s = open_()
    rec, (original, explanation) = DATA[0]
    with pytest.raises(StoreError, match=message):
        s.write_circuits(rec, [original, fault(explanation)])
    assert counts(s)["images"] == 0


# -- atomicity ----------------------------------------------------------------------------------

def _writer(url: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.store.writer", url, str(n)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_sigkill_mid_write_leaves_no_partial_circuit_and_the_rerun_completes(store_url):
    n = 6
    proc = _writer(store_url, n)
    durations = []
    killed_during = None
    for line in proc.stdout:
        word, k, *rest = line.split()
        if word == "done":
            durations.append(float(rest[0]))
        elif word == "writing" and int(k) == 3:
            time.sleep(min(durations) / 3)  # well inside the fourth image's transaction
            proc.send_signal(signal.SIGKILL)
            killed_during = int(k)
            break
    proc.wait(timeout=60)
    assert killed_during == 3 and proc.returncode == -signal.SIGKILL

    data = writer_dataset(n)
    with open_store(store_url, read_only=True) as s:
        present = {r["image_id"] for r in s.run("class_images", cls="kill test")}
        assert present in ({rec.id for rec, _ in data[:3]}, {rec.id for rec, _ in data[:4]})
        k = len(present)
        assert s.stats() == Reference(data[:k]).store_stats(aggregates=0)[0]
        per_circuit = s.run_cypher("MATCH (c:Circuit)-[:HAS]->(a:Act)-[f:FLOW]->(:Act) "
                                   "RETURN c.id AS id, c.n_edges AS n_edges, count(f) AS flows")
        assert len(per_circuit) == 2 * k and all(r["n_edges"] == r["flows"] for r in per_circuit)

    rerun = _writer(store_url, n)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert [line.split()[0] for line in out.splitlines()].count("skip") == k
    with open_store(store_url, read_only=True) as s:
        assert s.stats() == Reference(data).store_stats(aggregates=0)[0]


# -- hostile strings ----------------------------------------------------------------------------

def test_hostile_class_names_and_paths_are_stored_verbatim_and_change_nothing_else(open_):
    s = open_()
    benign = DATA[0]
    s.write_circuits(*benign)
    before = {name: s.run(name, image_id=benign[0].id) for name in ("image_circuit", "image_nodes", "image_logits")}
    hostile = make_dataset(HOSTILE, 1, seed=5, path_prefix="/tmp/'; DROP `x` \"}) //")
    for rec, circuits in hostile:
        s.write_circuits(rec, circuits)
    assert sorted(s.rebuild_stale()) == sorted(set(HOSTILE) | {benign[0].class_name})  # the class summaries too
    for rec, _ in hostile:
        rows = s.run("class_images", cls=rec.class_name)
        assert [r["path"] for r in rows] == [rec.path]
        assert s.get_image(rec.id).class_name == rec.class_name
        assert s.run("shared_edges", cls=rec.class_name, min_fraction=1.0)
    classes = {r["class"]: r["images"] for r in s.run("classes")}
    assert classes == {**{c: 1 for c in HOSTILE}, benign[0].class_name: 1}
    for name, rows in before.items():
        assert s.run(name, image_id=benign[0].id) == rows
    ref = Reference([benign] + hostile)
    assert counts(s) == ref.store_stats(aggregates=ref.aggregates())[0]


# -- read-only ----------------------------------------------------------------------------------

WRITES = {
    "create": "CREATE (:Class {name: 'intruder'})",
    "merge": "MERGE (:Class {name: 'intruder'})",
    "set": "MATCH (i:Image) SET i.path = 'changed'",
    "delete": "MATCH (i:Image) DETACH DELETE i",
}
SCHEMA_CHANGES = {
    "neo4j": ["CREATE INDEX intruder IF NOT EXISTS FOR (i:Image) ON (i.path)", "DROP CONSTRAINT image_id"],
    "ladybug": ["CREATE NODE TABLE Intruder(id STRING, PRIMARY KEY(id))", "DROP TABLE CLASS_EDGE"],
}


def test_read_only_refuses_every_kind_of_write(open_, backend):
    w = open_()
    w.write_circuits(*DATA[0])
    before = counts(w)
    w.close()
    s = open_(read_only=True)
    for text in list(WRITES.values()) + SCHEMA_CHANGES[backend]:
        with pytest.raises(StoreError, match="read-only"):
            s.run_cypher(text)
    for attempt in (lambda: s.write_circuits(*DATA[1]), lambda: s.delete_image(DATA[0][0].id),
                    lambda: s.ensure_schema(), lambda: s.rebuild_aggregates("wren")):
        with pytest.raises(StoreError, match="read-only"):
            attempt()
    assert counts(s) == before
    assert s.run_cypher("MATCH (i:Image) RETURN i.path AS path") == [{"path": DATA[0][0].path}]


def test_store_path_under_a_file_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create embedded store"):
        open_store(f"ladybug://{tmp_path / 'file' / 'store.lbug'}")


def test_free_form_cypher_needs_read_only_mode(open_):
    with pytest.raises(StoreError, match="read-only"):
        open_().run_cypher("MATCH (n) RETURN count(n) AS n")


def test_named_query_parameters_are_checked(open_):
    s = open_()
    with pytest.raises(StoreError, match="no named query 'nope'"):
        s.run("nope")
    with pytest.raises(StoreError, match="needs parameter 'cls'"):
        s.run("shared_edges")
    with pytest.raises(StoreError, match="no parameter klass"):
        s.run("shared_edges", cls="wren", klass="x")
    with pytest.raises(StoreError, match="'min_fraction' must be float"):
        s.run("shared_edges", cls="wren", min_fraction="half")
    assert s.run("shared_edges", cls="wren", min_fraction="0.5", limit="3") == []


# -- addresses and failures ---------------------------------------------------------------------

def test_open_store_addresses(tmp_path, monkeypatch):
    path = tmp_path / "a" / "b.lbug"
    for url in (str(path), f"ladybug://{path}", path):
        with open_store(url) as s:
            assert isinstance(s, LadybugStore) and s.path == path
    monkeypatch.setenv("AMX_STORE", str(tmp_path / "env.lbug"))
    assert default_store_url() == str(tmp_path / "env.lbug")
    monkeypatch.delenv("AMX_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_url() == str(tmp_path / "xdg" / "amx" / "store.lbug")
    with pytest.raises(StoreError, match="unknown store address scheme"):
        open_store("http://example.invalid/db")
    with pytest.raises(StoreError, match="nothing has been ingested"):
        open_store(tmp_path / "missing.lbug", read_only=True)
    with pytest.raises(StoreError, match="is a folder"):
        open_store(tmp_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_neo4j_fails_fast_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "secret-never-shown")
    t = time.monotonic()
    with pytest.raises(StoreError, match="unreachable") as err:
        open_store(f"bolt://127.0.0.1:{_free_port()}")
    assert time.monotonic() - t < 30
    assert "secret-never-shown" not in str(err.value)
    with pytest.raises(StoreError, match="no password"):
        monkeypatch.delenv("NEO4J_PASSWORD")
        open_store("bolt://127.0.0.1:7687")


@pytest.mark.neo4j
def test_wrong_password_is_refused_without_showing_it(neo4j_url, monkeypatch):
    from cypher.backends.neo4j import split_credentials

    uri, user, _ = split_credentials(neo4j_url)
    scheme, rest = uri.split("://", 1)
    with pytest.raises(StoreError, match="refused the credentials") as err:
        open_store(f"{scheme}://{user}:wrong-password-xyz@{rest}")
    assert "wrong-password-xyz" not in str(err.value)


class Proxy:
    """A loopback TCP relay to the server that can vanish, closing every connection at once."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def vanish(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # a bare close() would leave the blocked accept() listening
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.mark.neo4j
def test_neo4j_going_away_mid_run_gives_a_clear_error_not_a_hang(neo4j_url):
    from cypher.backends.neo4j import split_credentials

    uri, user, password = split_credentials(neo4j_url)
    scheme, rest = uri.split("://", 1)
    host, port = rest.rsplit(":", 1)
    proxy = Proxy((host.strip("[]"), int(port)))
    store = open_store(f"bolt://{user}:{password}@127.0.0.1:{proxy.port}")
    try:
        store.run("store_stats")
        outcome: list[BaseException] = []

        def attempt() -> None:
            try:
                store.write_circuits(*writer_dataset(1)[0])  # a big image: the write takes a while
            except BaseException as e:  # noqa: B036 - handed to the main thread
                outcome.append(e)

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        time.sleep(0.1)
        proxy.vanish()
        worker.join(timeout=90)
        assert not worker.is_alive(), "write hung after the server went away"
        assert outcome and isinstance(outcome[0], StoreError), outcome
        assert "unreachable" in str(outcome[0]) and password not in str(outcome[0])
    finally:
        store.close()
