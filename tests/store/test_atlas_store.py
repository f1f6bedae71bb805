"""The channel atlas's top examples stay consistent as images are written, replaced and deleted, on both
backends: they are answered from the acts themselves (`channel_examples`), so they always equal the
networkx reference of what is stored."""

from __future__ import annotations

from dataclasses import replace

from cypher import open_store

from .reference import Reference
from .synthetic import make_dataset
from .test_contract import assert_rows

CLASSES = ["goldfinch", "tabby cat"]


def _check(url, data, cids):
    ref = Reference(data)
    with open_store(url, read_only=True) as s:
        for cid in cids:
            for kind in ("original", "explanation"):
                assert_rows(s.run("channel_examples", cid=cid, kind=kind), ref.channel_examples(cid, kind=kind),
                            f"channel_examples {cid} {kind}")
                assert_rows(s.run("channel_classes", cid=cid, kind=kind), ref.channel_classes(cid, kind=kind),
                            f"channel_classes {cid} {kind}")


def test_top_examples_follow_writes_replacements_and_deletes(store_url):
    data = make_dataset(CLASSES, 5, seed=21)
    cids = sorted({n.cid for _, cs in data for c in cs for n in c.nodes if n.grid_h > 0})[:6]
    with open_store(store_url) as s:
        for rec, circuits in data:
            s.write_circuits(rec, circuits)
    _check(store_url, data, cids)
    # replace the first image: every peak far above the rest, its patches changed
    rec, circuits = data[0]
    boosted = []
    for c in circuits:
        b = replace(c, nodes=[replace(n, peak=n.peak + 1000.0) if n.grid_h > 0 else n for n in c.nodes])
        b.patches = {cid: p[::-1] for cid, p in c.patches.items()}
        boosted.append(b)
    with open_store(store_url) as s:
        s.write_circuits(rec, boosted)
    data = [(rec, boosted)] + data[1:]
    _check(store_url, data, cids)
    with open_store(store_url, read_only=True) as s:
        top = s.run("channel_examples", cid=boosted[1].nodes[0].cid, kind="explanation", limit=1)
    assert top[0]["image_id"] == rec.id and top[0]["patch_jpeg"] == boosted[1].patches[boosted[1].nodes[0].cid]
    # move an image to the other class, then delete one
    moved_rec, moved = data[1]
    moved_rec = replace(moved_rec, class_name=CLASSES[1], class_index=1)
    with open_store(store_url) as s:
        s.write_circuits(moved_rec, moved)
        assert s.delete_image(rec.id)
    data = [(moved_rec, moved)] + data[2:]
    _check(store_url, data, cids)
    with open_store(store_url, read_only=True) as s:
        assert all(r["image_id"] != rec.id for cid in cids for r in s.run("channel_examples", cid=cid))
