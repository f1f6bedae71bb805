"""Class summaries (the class summaries) are never stale, as a property (issue 15 part 3).

Hypothesis draws random sequences of what users do to a store: ingest some images under a class on the
tiny model (a rerun resumes, skipping what is stored), `--force`, the same files under another class
(moved), `delete_image`, and interruptions: a run that dies at its k-th write, or after its last write but
before the summary rebuild (simulated in-process: `write_circuits` raises, or `rebuild_stale` is skipped).
After every operation that completes, every class's summary must equal a recomputation from the stored
circuits (tests/ingest/summaries.py), and every image must be stored under the class a plain model of the
operations says. A sequence that ends interrupted is followed by a rerun, which must repair it.
Runs on embedded LadybugDB and (AMX_NEO4J_URI, else skipped) Neo4j; bounded to about a minute each.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as stg

from amx_core.images import file_sha256
from cypher import Store, open_store
from ingest.pipeline import IngestOptions, run_ingest
from tests.imagefiles import good_images
from tests.ingest.summaries import assert_summaries_fresh
from tests.store.conftest import empty_store
from tests.tiny import tiny_classifier

N_IMAGES = 3
CLASSES = ("cheetah", "tabby")


class Interrupted(Exception):
    """Stands in for a SIGKILL: the run stops where it is, nothing after it runs."""


_subsets = stg.lists(stg.integers(0, N_IMAGES - 1), min_size=1, max_size=N_IMAGES, unique=True).map(sorted)
_classes = stg.sampled_from(CLASSES)
OPERATIONS = stg.one_of(
    stg.tuples(stg.just("ingest"), _classes, _subsets, stg.booleans()),  # (op, class, images, force)
    stg.tuples(stg.just("delete"), stg.integers(0, N_IMAGES - 1)),
    # die when starting write number k (1-based; k > the writes due: after the last write, before the rebuild)
    stg.tuples(stg.just("interrupt"), _classes, _subsets, stg.booleans(), stg.integers(1, N_IMAGES + 1)),
)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    return good_images(tmp_path_factory.mktemp("prop-imgs"), N_IMAGES)


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier()


def _ingest(url: str, paths: list[Path], cls: str, force: bool, clf) -> None:
    opts = IngestOptions(class_name=cls, images=tuple(str(p) for p in paths), store=url, steps=2, batch_size=2,
                         force=force)
    run_ingest(opts, classifier=clf, report=lambda _m: None)


def _interrupted_ingest(url, paths, cls, force, kill_at, clf, monkeypatch) -> None:
    writes = itertools.count(1)
    original = Store.write_circuits

    def write_or_die(self, image, circuits):
        if next(writes) == kill_at:
            raise Interrupted
        return original(self, image, circuits)

    def die(self):
        raise Interrupted

    with monkeypatch.context() as m:
        m.setattr(Store, "write_circuits", write_or_die)
        m.setattr(Store, "rebuild_stale", die)  # reached only when every write is done
        with pytest.raises(Interrupted):
            _ingest(url, paths, cls, force, clf)


def _stored_classes(url: str, ids: list[str]) -> dict[str, str]:
    with open_store(url, read_only=True) as s:
        return {i: rec.class_name for i in ids if (rec := s.get_image(i)) is not None}


@pytest.mark.parametrize("backend", ["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_summaries_equal_a_recomputation_after_any_sequence_of_runs(backend, images, classifier, request,
                                                                     tmp_path, monkeypatch):
    ids = [file_sha256(p) for p in images]
    counter = itertools.count()

    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(stg.lists(OPERATIONS, min_size=1, max_size=4))
    def check(ops):
        folder = tmp_path / f"example{next(counter)}"
        folder.mkdir()
        url = empty_store(backend, request, folder)
        model: dict[str, str] = {}  # image id -> class it must be stored under
        interrupted = None
        for op in ops:
            if op[0] == "delete":
                with open_store(url) as s:
                    assert s.delete_image(ids[op[1]]) == (ids[op[1]] in model)
                model.pop(ids[op[1]], None)
            else:
                _, cls, subset, force = op[:4]
                paths = [images[i] for i in subset]
                due = [ids[i] for i in subset if force or model.get(ids[i]) != cls]  # written, in file order
                if op[0] == "ingest":
                    _ingest(url, paths, cls, force, classifier)
                    model.update(dict.fromkeys(due, cls))
                else:
                    kill_at = op[4]
                    _interrupted_ingest(url, paths, cls, force, kill_at, classifier, monkeypatch)
                    model.update(dict.fromkeys(due[: kill_at - 1], cls))
                    interrupted = (paths, cls)
                    assert _stored_classes(url, ids) == model, ops
                    continue
            interrupted = None
            assert _stored_classes(url, ids) == model, ops
            assert_summaries_fresh(url)
        if interrupted is not None:  # rerunning the interrupted command finishes and repairs it
            paths, cls = interrupted
            _ingest(url, paths, cls, False, classifier)
            model.update({file_sha256(p): cls for p in paths})
            assert _stored_classes(url, ids) == model, ops
            assert_summaries_fresh(url)

    check()
