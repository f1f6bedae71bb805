"""Explorer fixtures: a small seeded store on embedded LadybugDB and on a real Neo4j 5.26.

The seeded store holds 3 classes × 4 images of tests/store/synthetic.py circuits, each image with real
PNG pictures and the metrics ingest writes, and the aggregate cache built. Neo4j comes from the store
suite's `neo4j_url` fixture (AMX_NEO4J_URI, else testcontainers, else skip; a skip fails when
AMX_REQUIRE_NEO4J=1); its database is wiped and reseeded.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator

import pytest

from cypher import open_store
from tests.store.conftest import neo4j_url, wipe_neo4j  # noqa: F401  (the store suite's Neo4j fixture)
from tests.store.synthetic import Shape, make_dataset

CLASSES = ["cheetah", "tabby", "goldfinch"]
PER_CLASS = 4
SHAPE = Shape(layers=4, pool=10, keep_original=6, keep_explanation=4, edge_p=0.7, logits=3)
COLORS = {"cheetah": (200, 160, 60), "tabby": (120, 120, 120), "goldfinch": (230, 210, 40)}


def png(rgb: tuple[int, int, int], size: int = 48, mask: bool = False) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("L" if mask else "RGB", (size, size), 0 if mask else rgb)
    ImageDraw.Draw(im).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255 if mask else (20, 20, 20))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@functools.cache
def patch(rgb: tuple[int, int, int]) -> bytes:
    """A 64x64 JPEG in one colour with a dark square: a stand-in for an atlas patch."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (64, 64), rgb)
    ImageDraw.Draw(im).rectangle((16, 16, 47, 47), fill=(20, 20, 20))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def dataset(classes=CLASSES, per_class=PER_CLASS, shape=SHAPE, seed=5):
    """Synthetic images with real pictures and ingest-like metrics (the last one of each class has no pictures)."""
    items = make_dataset(list(classes), per_class, shape=shape, seed=seed)
    for k, (rec, circuits) in enumerate(items):
        expl = circuits[1].metrics
        rec.metrics = {"confidence_x": rec.confidence, "confidence_e": expl["confidence"],
                       "mask_area": expl["mask_area"], "robustness": 0.75, "label_kept": rec.agrees,
                       "circuit_suff_top1": 1.0, "edge_jaccard": 0.4, "predicted_e_name": rec.predicted}
        for c in circuits:  # the channel atlas's patches as real small JPEGs, one colour per class
            c.patches = {cid: patch(COLORS.get(rec.class_name, (90, 140, 200))) for cid in c.patches}
        if rec.class_name == "cheetah" and k % per_class == 1:  # one image whose class the model does not see
            rec.target_rank, rec.target_rank_e, rec.target_confidence, rec.status = 12, 9, 0.004, "not recognised"
            rec.criterion = "rank_and_probability"
        if k % per_class != per_class - 1:
            rec.original_jpeg = png(COLORS.get(rec.class_name, (90, 140, 200)))
            rec.mask_png = png((0, 0, 0), mask=True)
            rec.explanation_jpeg = png((30, 30, 30))
    return items


def seed(url: str, items=None) -> list:
    items = dataset() if items is None else items
    with open_store(url) as s:
        s.ensure_schema()
        for rec, circuits in items:
            s.write_circuits(rec, circuits)
        for cls in sorted({rec.class_name for rec, _ in items}):
            s.rebuild_aggregates(cls)
    return items


def _forget_cached_results() -> None:
    """Streamlit caches are per process: a URL reused with new data must not answer from the old."""
    from explorer import cache

    cache.close_all()


@pytest.fixture(scope="session")
def ladybug_seeded(tmp_path_factory) -> str:
    url = f"ladybug://{tmp_path_factory.mktemp('explorer') / 'store.lbug'}"
    seed(url)
    return url


@pytest.fixture(scope="module")
def neo4j_seeded(neo4j_url) -> Iterator[str]:  # noqa: F811
    wipe_neo4j(neo4j_url)
    seed(neo4j_url)
    _forget_cached_results()
    yield neo4j_url
    _forget_cached_results()


@pytest.fixture(params=["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def seeded_url(request) -> str:
    """Address of the seeded store, on each backend."""
    return request.getfixturevalue("ladybug_seeded" if request.param == "ladybug" else "neo4j_seeded")


@pytest.fixture
def items():
    return dataset()


@pytest.fixture
def app_env(monkeypatch):
    """set(url): point the app (AMX_STORE) at a store for this test."""
    def _set(url: str) -> None:
        monkeypatch.setenv("AMX_STORE", url)

    monkeypatch.delenv("AMX_STORE", raising=False)
    return _set

