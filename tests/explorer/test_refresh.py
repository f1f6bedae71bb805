"""The explorer shows data ingested while it is open (issue 15 part 4): at once after Refresh, and by itself
once its connection is older than `cache.STORE_TTL`, on both backends.

Measured on the embedded store: a writer can commit while the explorer holds the file open read-only, but
that read-only connection keeps reading the snapshot it opened; only a connection opened afterwards sees
the new rows. Before the fix the explorer kept its first connection for the life of the process, so on the
embedded store nothing ingested later ever showed, not even after Refresh.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cypher import open_store
from explorer import cache

from .conftest import seed
from .test_app import APP, TIMEOUT, _ok

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import sys
from tests.explorer.conftest import dataset, seed
seed(sys.argv[1], dataset(classes=["robin"], per_class=1, seed=9))
"""


@pytest.fixture(params=["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def fresh_url(request, tmp_path):
    """A store seeded with the explorer's 3 x 4 images, its own (a new file; Neo4j wiped and reseeded)."""
    if request.param == "neo4j":
        from tests.store.conftest import wipe_neo4j

        url = request.getfixturevalue("neo4j_url")
        wipe_neo4j(url)
    else:
        url = f"ladybug://{tmp_path / 'store.lbug'}"
    seed(url)
    cache.close_all()
    yield url
    cache.close_all()
    if request.param == "neo4j":  # leave the server as the other explorer tests expect to find it: seeded
        wipe_neo4j(url)
        seed(url)


def _ingest_one_more(url: str) -> None:
    """Another process writes one image of a new class (as amx-ingest would) while the explorer is open."""
    done = subprocess.run([sys.executable, "-c", WRITER, url], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with open_store(url, read_only=True) as s:
        assert s.stats()["images"] == 13


def _counts(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if " images, " in c.value)


def _refresh(at: AppTest) -> AppTest:
    return next(b for b in at.sidebar.button if b.label == "Refresh").click().run()


def test_refresh_shows_an_image_ingested_while_the_explorer_is_open(fresh_url, app_env):
    app_env(fresh_url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "Class"
    _ok(at.run())
    assert _counts(at).startswith("12 images, 3 classes")
    _ingest_one_more(fresh_url)  # the explorer holds its connection meanwhile
    _ok(_refresh(at))
    assert _counts(at).startswith("13 images, 4 classes")
    assert "robin (1 images)" in at.selectbox(key="cls_cls").options
    _ok(at.selectbox(key="cls_cls").set_value("robin").run())  # its page answers from the new data
    assert at.get("iframe")


def test_new_data_show_by_themselves_after_the_store_ttl(fresh_url, app_env, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(cache, "clock", lambda: now[0])
    app_env(fresh_url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    _ok(at.run())
    assert _counts(at).startswith("12 images")
    _ingest_one_more(fresh_url)
    now[0] += cache.STORE_TTL / 2
    _ok(at.run())
    assert _counts(at).startswith("12 images")  # within the time-to-live: the cached answer
    now[0] += cache.STORE_TTL
    _ok(at.run())
    assert _counts(at).startswith("13 images, 4 classes")


def test_a_replaced_connection_is_closed_after_its_grace_period(ladybug_seeded, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(cache, "clock", lambda: now[0])
    cache.close_all()
    first = cache.current(ladybug_seeded)
    assert cache.current(ladybug_seeded) is first  # held while young
    cache.refresh(ladybug_seeded)
    second = cache.current(ladybug_seeded)
    assert second.generation > first.generation and second.store is not first.store
    assert first.store.run("classes")  # still open: a query that holds it may still be running
    now[0] += cache.RETIRE_S + cache.STORE_TTL
    third = cache.current(ladybug_seeded)  # the held one has expired: reopened, and the first is closed
    assert third.generation > second.generation
    with pytest.raises(Exception, match="closed"):
        first.store.run("classes")
    assert third.store.run("classes")
    cache.close_all()
