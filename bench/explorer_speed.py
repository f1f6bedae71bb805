"""Explorer speed: seconds until each page is interactive in headless Chromium, with 1,000 images stored.

    python -m bench.explorer_speed                       # 1,000 synthetic images, 10 classes, embedded store
    python -m bench.explorer_speed --images 200 --classes 4
    python -m bench.explorer_speed --store PATH          # reuse (or keep) the seeded store at PATH

"Interactive" = the page's URL loaded, its key text shown, its circuit graphs drawn by vis-network
(the graph page's own `data-drawn` marker) and Streamlit idle. Each page is loaded cold (first visit:
queries run, caches empty) and warm (again, same server). Baseline, measured in the same run: the
same server's cheapest page (the Queries form, no data query) — the Streamlit + browser floor; the
table reports each page's ratio to it. Target (issue 5): every page ≤ 2 s with 1,000 images.
Synthetic circuits: tests/store/synthetic.py, shaped like efficientnet_lite0's (5 tapped layers,
16 channels kept per layer, ~800 edges per circuit). Needs /usr/bin/chromium and playwright.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cypher import open_store
from tests.explorer.browser import browser_missing, chromium_page, explorer_server, open_page, wait_for_graphs
from tests.store.synthetic import Shape, iter_dataset

SHAPE = Shape(layers=5, pool=32, keep_original=16, keep_explanation=16, edge_p=0.8, logits=5)
CLASS_NAMES = ["cheetah", "tabby", "goldfinch", "baboon", "monarch", "orange", "espresso", "lion", "ox", "sorrel",
               "bald eagle", "fox squirrel", "space shuttle", "dog", "jay", "robin"]


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    im = Image.effect_noise((160, 160), 40 + seed % 60).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def seed_store(path: Path, images: int, classes: int) -> float:
    names = CLASS_NAMES[:classes]
    per_class = max(1, images // len(names))
    t = time.perf_counter()
    with open_store(path) as s:
        s.ensure_schema()
        for k, (rec, circuits) in enumerate(iter_dataset(names, per_class, shape=SHAPE, seed=7)):
            expl = circuits[1].metrics
            rec.metrics = {"confidence_x": rec.confidence, "confidence_e": expl["confidence"],
                           "mask_area": expl["mask_area"], "robustness": 1.0, "label_kept": True,
                           "circuit_suff_top1": 1.0, "edge_jaccard": 0.3, "predicted_e_name": rec.predicted}
            rec.original_png = rec.explanation_png = _jpeg(k)
            rec.mask_png = _jpeg(k + 1)
            s.write_circuits(rec, circuits)
        for cls in names:
            s.rebuild_aggregates(cls)
    return time.perf_counter() - t


def measure(url: str, repeats: int) -> tuple[list[tuple[str, list[float], list[float]]], dict]:
    with open_store(url, read_only=True) as s:
        stats = s.stats()
        classes = s.run("classes")
        cls = classes[len(classes) // 2]["class"]
        other = classes[0]["class"]
        image_ids = [r["image_id"] for r in s.run("class_images", cls=cls)]
    pages = [
        ("Queries form (baseline)", "page=Queries", set(), "Named query"),
        ("Image", None, {"original", "explanation"}, "confidence on e"),
        ("Class", f"page=Class&cls={cls}&support=0.5", {"consensus"}, "Channel frequency per layer"),
        ("Compare", f"page=Compare&cls={cls}&b={other}&support=0.5", {"class_a", "class_b"}, "Difference"),
        ("Exports", "page=Exports", set(), "Download GraphML"),
    ]
    rows = []
    with explorer_server(url) as base, chromium_page() as page:
        open_page(page, base, "page=Queries", text="Named query")  # the browser's own first start
        for name, query, graphs, text in pages:
            cold, warm = [], []
            for r in range(repeats):
                q = query or f"page=Image&cls={cls}&image={image_ids[(2 * r) % len(image_ids)]}"
                cold.append(open_page(page, base, q, graphs=graphs, text=text))
                warm.append(open_page(page, base, q, graphs=graphs, text=text))
            rows.append((name, cold, warm))
        # one interaction: run a named query from its form and wait for the table and its graph
        times = []
        for _ in range(repeats):
            open_page(page, base, "page=Queries", text="Named query")
            box = page.get_by_role("combobox", name="Named query")
            box.click()
            page.keyboard.type("shared_edges")
            page.keyboard.press("Enter")
            page.get_by_text("Columns: src, dst, images, fraction, mean_weight").wait_for()
            t = time.perf_counter()
            page.get_by_role("button", name="Run query").click()
            page.get_by_text(" rows", exact=False).first.wait_for()
            wait_for_graphs(page, {"query"})
            times.append(time.perf_counter() - t)
        rows.append(("Queries: run shared_edges", times, times))
    return rows, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--store", type=Path, help="seeded store file to reuse, or where to keep the new one")
    args = ap.parse_args(argv)
    reason = browser_missing()
    if reason:
        print(f"explorer_speed: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "store.lbug"
        if not path.exists():
            print(f"seeding {args.images} synthetic images in {args.classes} classes ...", file=sys.stderr, flush=True)
            seconds = seed_store(path, args.images, args.classes)
            print(f"seeded in {seconds:.0f} s", file=sys.stderr, flush=True)
        rows, stats = measure(str(path), args.repeats)
    floor = statistics.median(rows[0][2])
    print(f"\nexplorer_speed: {stats['images']} images, {stats['classes']} classes, {stats['circuits']} circuits, "
          f"{stats['flow_edges']:,} FLOW edges (embedded store); median of {args.repeats}, seconds")
    print(f"{'page':32} {'cold':>7} {'warm':>7} {'warm/baseline':>14} {'<= 2 s':>7}")
    for name, cold, warm in rows:
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"{name:32} {c:7.2f} {w:7.2f} {w / floor:14.1f} {'yes' if max(c, w) <= 2 else 'NO':>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
