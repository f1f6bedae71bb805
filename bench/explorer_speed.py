"""Explorer speed: seconds until each page is interactive in headless Chromium, with 1,000 images stored.

    python -m bench.explorer_speed                       # 1,000 synthetic images, 10 classes, embedded store
    python -m bench.explorer_speed --images 200 --classes 4
    python -m bench.explorer_speed --store PATH          # reuse (or keep) the seeded store at PATH
    python -m bench.explorer_speed --compare-inline      # also the old way (vis-network inlined), same run
    python -m bench.explorer_speed --baseline-tree DIR   # also the explorer of another checkout, same run

"Interactive" = the page's URL loaded, its key text shown, its circuit graphs drawn by vis-network
(the graph page's own `data-drawn` marker) and Streamlit idle. Each repeat loads a page cold (the first
visit with these parameters: each repeat takes other classes, so its queries miss the server's cache)
and then warm (the same URL again, same server). Baseline, measured in the same run: the same server's
cheapest page (the Queries form, no data query) — the Streamlit + browser floor; the table reports each
page's ratio to it. Target: every page ≤ 2 s with 1,000 images.

`amx-explore` serves vis-network once from explorer/static/ (Streamlit static serving) and each graph
page links it. `--compare-inline` starts a second server with static serving off
(STREAMLIT_SERVER_ENABLE_STATIC_SERVING=false), where every graph page inlines the library, and
alternates between the servers page by page, so all see the same machine load.
`--baseline-tree DIR` adds a server that imports its explorer (and cypher) from DIR, e.g. a
`git worktree` of an older commit: a before/after comparison in one run.
Synthetic circuits: tests/store/synthetic.py, shaped like efficientnet_lite0's (5 tapped layers,
16 channels kept per layer, ~800 edges per circuit). Needs /usr/bin/chromium and playwright.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cypher import open_store
from tests.explorer.browser import (
    browser_missing,
    chromium_page,
    explorer_server,
    open_page,
    wait_for_graphs,
    wait_idle,
)
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
            rec.original_jpeg = rec.explanation_jpeg = _jpeg(k)
            rec.mask_png = _jpeg(k + 1)
            s.write_circuits(rec, circuits)
        for cls in names:
            s.rebuild_aggregates(cls)
    return time.perf_counter() - t


MODES = {"served": {}, "inline": {"STREAMLIT_SERVER_ENABLE_STATIC_SERVING": "false"}}


def plan(url: str, repeats: int) -> tuple[list[tuple[str, set[str], str, list[str]]], dict]:
    """Pages to load: (name, graphs to wait for, key text, one URL query per repeat), and the store's stats.

    Repeat r takes other classes than repeat r-1 (as long as the store has enough), so its cold load
    runs its queries for the first time on that server."""
    with open_store(url, read_only=True) as s:
        stats = s.stats()
        names = [c["class"] for c in s.run("classes")]
        first_image = {c: s.run("class_images", cls=c, limit=1)[0]["image_id"] for c in names}
    n, mid = len(names), len(names) // 2

    def cls(k: int) -> str:
        return names[k % n]

    rs = range(repeats)
    pages = [
        ("Queries form (baseline)", set(), "Named query", ["page=Queries"] * repeats),
        ("Image", {"original", "explanation"}, "confidence on e",
         [f"page=Image&cls={cls(mid + r)}&image={first_image[cls(mid + r)]}" for r in rs]),
        ("Class", {"shared_edges"}, "Channel frequency per layer",
         [f"page=Class&cls={cls(mid + r)}&support=0.5" for r in rs]),
        ("Compare", {"class_a", "class_b"}, "Difference",
         [f"page=Compare&cls={cls(mid + r)}&b={cls(mid - 1 - r)}&support=0.5" for r in rs]),
        ("Exports", set(), "Download GraphML", [f"page=Exports&cls={cls(mid + 3 + r)}" for r in rs]),
    ]
    return pages, stats


def run_query_form(page, base: str) -> float:
    """Run a named query from its form; seconds until its table and its graph are shown."""
    open_page(page, base, "page=Queries", text="Named query")
    box = page.get_by_role("combobox", name="Named query")
    box.click()
    page.keyboard.type("shared_edges")
    page.keyboard.press("Enter")
    page.get_by_text("Columns: src, dst, images, fraction, mean_weight").wait_for()
    wait_idle(page)  # a click while the form is still being redrawn is lost
    t = time.perf_counter()
    page.get_by_role("button", name="Run query").click()
    page.get_by_text(re.compile(r"^\d+ rows$")).first.wait_for()  # the result's "N rows" line, not a label
    wait_for_graphs(page, {"query"})
    return time.perf_counter() - t


def measure(url: str, repeats: int, modes: list[str]) -> tuple[dict[str, list[tuple[str, list, list]]], dict]:
    """{mode: [(page, cold seconds, warm seconds)]}; with several modes their servers run side by side and
    each page's repeats alternate between them (the order flips every repeat)."""
    pages, stats = plan(url, repeats)
    rows: dict[str, list] = {m: [] for m in modes}
    with contextlib.ExitStack() as stack:
        bases = {m: stack.enter_context(explorer_server(url, env=MODES[m])) for m in modes}
        page = stack.enter_context(chromium_page())
        for m in modes:  # each server's first page (and the browser's own first start), not measured
            open_page(page, bases[m], "page=Queries", text="Named query")
        for name, graphs, text, queries in pages:
            cold: dict[str, list[float]] = {m: [] for m in modes}
            warm: dict[str, list[float]] = {m: [] for m in modes}
            for r, q in enumerate(queries):
                for m in (modes if r % 2 == 0 else modes[::-1]):
                    cold[m].append(open_page(page, bases[m], q, graphs=graphs, text=text))
                    warm[m].append(open_page(page, bases[m], q, graphs=graphs, text=text))
            for m in modes:
                rows[m].append((name, cold[m], warm[m]))
        times: dict[str, list[float]] = {m: [] for m in modes}
        for r in range(repeats):
            for m in (modes if r % 2 == 0 else modes[::-1]):
                times[m].append(run_query_form(page, bases[m]))
        for m in modes:
            rows[m].append(("Queries: run shared_edges", times[m], times[m]))
    return rows, stats


def table(rows: list[tuple[str, list, list]]) -> None:
    floor = statistics.median(rows[0][2])
    print(f"{'page':32} {'cold':>7} {'warm':>7} {'warm/baseline':>14} {'<= 2 s':>7}")
    for name, cold, warm in rows:
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"{name:32} {c:7.2f} {w:7.2f} {w / floor:14.1f} {'yes' if max(c, w) <= 2 else 'NO':>7}")


def add_seed_arguments(ap: argparse.ArgumentParser) -> None:
    """The seeded store's size (--images, --classes), --repeats and --store: shared by the explorer benches."""
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--store", type=Path, help="seeded store file to reuse, or where to keep the new one")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seed_arguments(ap)
    ap.add_argument("--compare-inline", action="store_true",
                    help="also measure a server that inlines vis-network in every graph page (the old way)")
    ap.add_argument("--baseline-tree", type=Path,
                    help="also measure the explorer of this checkout (e.g. a git worktree of an older commit)")
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
        modes = ["served", "inline"] if args.compare_inline else ["served"]
        if args.baseline_tree:
            MODES["baseline"] = {"PYTHONPATH": str(args.baseline_tree.resolve())}
            modes.append("baseline")
        rows, stats = measure(str(path), args.repeats, modes)
    print(f"\nexplorer_speed: {stats['images']} images, {stats['classes']} classes, {stats['circuits']} circuits, "
          f"{stats['flow_edges']:,} FLOW edges (embedded store); median of {args.repeats}, seconds")
    labels = {"served": "vis-network served once from /app/static (amx-explore's default)",
              "inline": "vis-network inlined in every graph page (static serving off)",
              "baseline": f"the explorer of {args.baseline_tree}"}
    for m in modes:
        print(f"\n{labels[m]}:")
        table(rows[m])
    for other in modes[1:]:
        print(f"\n{other} / served, median seconds (> 1: this checkout's default is faster):")
        print(f"{'page':32} {'cold':>7} {'warm':>7}")
        for (name, cs, ws), (_, co, wo) in zip(rows["served"], rows[other], strict=True):
            print(f"{name:32} {statistics.median(co) / statistics.median(cs):7.2f} "
                  f"{statistics.median(wo) / statistics.median(ws):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
