"""The channel atlas: peaks recorded at readout, patches cut around them, stored with the acts by ingest."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image, ImageStat

from amx_core.atlas import cut_patches, patch_box
from amx_core.circuit import Circuit, Node
from amx_core.hooks import capture
from amx_core.readout import read_circuit
from tests.tiny import tiny_classifier


def test_read_circuit_records_where_each_channel_peaks():
    clf = tiny_classifier()
    torch.manual_seed(0)
    x = torch.rand(3, 64, 64)
    c = read_circuit(clf, x, image_id="img")
    with torch.no_grad(), capture(clf.net, outputs=clf.spec.taps) as acts:
        clf(x[None])
    assert c.nodes
    for n in c.nodes:
        a = acts[n.layer][0, n.channel]
        assert (n.grid_h, n.grid_w) == tuple(a.shape)
        assert n.peak == pytest.approx(float(a.max()), rel=1e-5)
        assert float(a[n.peak_row, n.peak_col]) == pytest.approx(n.peak, rel=1e-5)
        mean = float(a.abs().mean())
        assert n.peak_ratio == pytest.approx(n.peak / mean if mean > 0 else 0.0, rel=1e-4)
        assert mean == 0 or n.peak_ratio >= 1.0  # post-ReLU: the maximum is at least the mean
    back = Circuit.from_json(c.to_json())  # the JSON export keeps the peaks, and older JSON still loads
    assert back.nodes == c.nodes
    old = c.to_dict()
    for n in old["nodes"]:
        for k in ("peak", "peak_ratio", "peak_row", "peak_col", "grid_h", "grid_w"):
            del n[k]
    assert Circuit.from_dict(old).nodes[0].grid_h == 0


def test_patch_box_is_a_clipped_square_around_the_peak_cell():
    n = Node("l", 0, 1.0, 0, peak=2.0, peak_ratio=2.0, peak_row=0, peak_col=13, grid_h=14, grid_w=14)
    top, left, bottom, right = patch_box(n, 224, 224)  # 16 px cells, 3 cells = 48 px, pushed inside
    assert (bottom - top, right - left) == (48, 48)
    assert top == 0 and right == 224
    n = Node("l", 0, 1.0, 0, peak=2.0, peak_ratio=2.0, peak_row=50, peak_col=50, grid_h=112, grid_w=112)
    top, left, bottom, right = patch_box(n, 224, 224)  # 2 px cells: the minimum side (24 px) applies
    assert (bottom - top, right - left) == (24, 24) and top <= 101 <= bottom and left <= 101 <= right
    assert patch_box(Node("l", 0, 1.0, 0), 224, 224) is None  # no recorded peak


def test_cut_patches_shows_the_region_around_the_peak():
    x = torch.zeros(3, 64, 64)
    x[0, 32:48, 0:16] = 1.0  # a red square in grid cell (2, 0) of a 4x4 grid
    hit = Node("l", 1, 1.0, 0, peak=3.0, peak_ratio=2.0, peak_row=2, peak_col=0, grid_h=4, grid_w=4)
    miss = Node("l", 2, 1.0, 1, peak=3.0, peak_ratio=2.0, peak_row=0, peak_col=3, grid_h=4, grid_w=4)
    c = Circuit("img", "original", "m", "cfg", ("l",), nodes=[hit, miss, Node("l", 3, 1.0, 2)])
    patches = cut_patches(c, x, cells=1.0, min_side=16)
    assert set(patches) == {"l#1", "l#2"}
    red = Image.open(io.BytesIO(patches["l#1"])).convert("RGB")
    black = Image.open(io.BytesIO(patches["l#2"])).convert("RGB")
    assert red.size == black.size == (64, 64)
    r, g, b = ImageStat.Stat(red).mean
    assert r > 200 and g < 40 and b < 40
    assert max(ImageStat.Stat(black).mean) < 20
    assert patches["l#1"][:2] == b"\xff\xd8"


@pytest.mark.parametrize("atlas", [True, False])
def test_ingest_stores_each_acts_patch_and_channel_examples_answer_from_them(tmp_path, atlas):
    from cypher import open_store
    from ingest.pipeline import IngestOptions, run_ingest
    from tests.imagefiles import good_images

    good_images(tmp_path / "imgs", 2)
    url = f"ladybug://{tmp_path / 'store.lbug'}"
    opts = IngestOptions(class_name="cheetah", images=(str(tmp_path / "imgs"),), store=url, steps=2, batch_size=2,
                         atlas=atlas)
    summary = run_ingest(opts, classifier=tiny_classifier(), report=lambda _m: None)
    assert summary.ingested == 2 and (summary.seconds_atlas > 0) == atlas
    with open_store(url, read_only=True) as s:
        acts = s.run_cypher("MATCH (a:Act) RETURN a.cid AS cid, a.kind AS kind, a.peak AS peak, "
                            "a.grid_h AS grid_h, a.patch_jpeg AS patch")
        assert acts and all(r["grid_h"] in (64, 32, 16, 8) and r["peak"] is not None for r in acts)
        if not atlas:
            assert all(r["patch"] is None for r in acts)
            assert s.run("channel_examples", cid="relu3#0") == []
            return
        assert all(r["patch"][:2] == b"\xff\xd8" for r in acts)
        for kind in ("original", "explanation"):
            rows = s.run("channel_examples", cid="relu3#0", kind=kind)
            assert len(rows) == 2 and rows[0]["peak"] >= rows[1]["peak"]
            img = Image.open(io.BytesIO(rows[0]["patch_jpeg"]))
            assert img.size == (64, 64)
        classes = s.run("channel_classes", cid="relu3#0")
        assert classes[0]["class"] == "cheetah" and classes[0]["images"] == 2


def test_a_store_written_before_the_atlas_gains_its_columns(tmp_path):
    """An embedded store whose Act table predates the atlas: ensure_schema adds the columns, old acts read
    as nulls, and new writes carry peaks and patches."""
    import ladybug

    from cypher import open_store
    from tests.store.synthetic import make_dataset

    path = tmp_path / "old.lbug"
    db = ladybug.Database(str(path))
    con = ladybug.Connection(db)
    con.execute("CREATE NODE TABLE Act(id STRING, circuit_id STRING, image_id STRING, class STRING, kind STRING, "
                "model STRING, cid STRING, layer STRING, channel INT64, activation DOUBLE, rank INT64, PRIMARY KEY(id))")
    con.execute("CREATE (:Act {id: 'old', cid: 'blocks.0#1', kind: 'explanation', activation: 1.0})")
    del con, db
    with open_store(f"ladybug://{path}") as s:
        s.ensure_schema()
        s.ensure_schema()
        rec, circuits = make_dataset(["a"], 1, seed=3)[0]
        s.write_circuits(rec, circuits)
    with open_store(f"ladybug://{path}", read_only=True) as s:
        old = s.run_cypher("MATCH (a:Act {id: 'old'}) RETURN a.peak AS peak, a.patch_jpeg AS patch")
        assert old == [{"peak": None, "patch": None}]
        cid = circuits[1].nodes[0].cid
        assert s.run("channel_examples", cid=cid)[0]["patch_jpeg"] == circuits[1].patches[cid]


def test_feature_visualisation_raises_the_channels_activation_far_above_a_random_images():
    from amx_core.atlas import channel_objective, feature_visualisation

    clf = tiny_classifier()
    # the tiny net's random weights: channels of its first layers respond to the input (the deepest are all
    # but constant), so these are what a visualisation can be checked on
    for layer, channel in (("relu1", 3), ("relu3", 5)):
        img = feature_visualisation(clf, layer, channel, steps=96, lr=0.1, seed=1)
        assert img.shape == (3, 64, 64) and 0.0 <= float(img.min()) and float(img.max()) <= 1.0
        with torch.no_grad():
            rendered = float(channel_objective(clf, layer, channel, img[None]))
            gen = torch.Generator().manual_seed(0)
            randoms = [float(channel_objective(clf, layer, channel, torch.rand(1, 3, 64, 64, generator=gen)))
                       for _ in range(8)]
        assert rendered > 2 * max(randoms) + 1e-3, (layer, channel, rendered, randoms)
    assert all(p.requires_grad is False for p in clf.parameters()) and not clf.training  # left as it was


def test_amx_atlas_renders_and_caches_per_model(tmp_path, monkeypatch, capsys):
    import amx_core.atlas as atlas
    import amx_core.models as models

    monkeypatch.setattr(models, "load_classifier", lambda *a, **k: tiny_classifier())
    args = ["--model", "tiny", "--layer", "relu4", "--channels", "1,3", "--steps", "4", "--out", str(tmp_path)]
    assert atlas.main(args) == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert files == ["tiny_cnn/relu4/1.png", "tiny_cnn/relu4/3.png"]
    assert Image.open(tmp_path / files[0]).size == (64, 64)
    assert atlas.main(args) == 0 and capsys.readouterr().out.count("(cached)") == 2
    assert atlas.main([*args[:2], "--layer", "nope", *args[4:]]) == 2
    assert "not a tapped layer" in capsys.readouterr().err


def test_explanation_view_keeps_the_kept_pixels_and_fades_the_removed_ones_in():
    from amx_core.atlas import explanation_view
    from amx_core.models import apply_mask

    torch.manual_seed(0)
    x = torch.rand(3, 8, 8)
    mask = torch.zeros(1, 8, 8)
    mask[:, :4] = 1
    grey = torch.full((3, 1, 1), 0.5)
    e = apply_mask(x, mask, grey)
    v = explanation_view(x, e, context=0.4)
    assert torch.allclose(v[:, :4], x[:, :4])
    assert torch.allclose(v[:, 4:], 0.6 * 0.5 + 0.4 * x[:, 4:])
