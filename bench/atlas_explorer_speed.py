"""The channel atlas in the explorer: seconds until the Channel page, and the pages whose graphs carry hover
cards with example thumbnails (Class: Shared and Distinctive, Image), are interactive, with 1,000 images stored.

    python -m bench.atlas_explorer_speed [--images 1000] [--classes 10] [--repeats 3] [--store PATH]

Same harness as bench/explorer_speed.py (headless Chromium, `amx-explore` in a child process, synthetic
circuits shaped like efficientnet_lite0's, each act with a 64x64 JPEG patch): each repeat loads a page cold
(other classes and channels than the repeat before, so its queries miss the server's cache) and warm (the
same URL again). Baseline in the same run: the Queries form (no data query). Target: every page <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.explorer_speed import add_seed_arguments, seed_store
from cypher import open_store
from tests.explorer.browser import browser_missing, chromium_page, explorer_server, open_page


def plan(url: str, repeats: int) -> list[tuple[str, set[str], str, list[str]]]:
    with open_store(url, read_only=True) as s:
        names = [c["class"] for c in s.run("classes")]
        first_image = {c: s.run("class_images", cls=c, limit=1)[0]["image_id"] for c in names}
        top = {c: s.run("distinctive_channels", cls=c, min_fraction=0.25, limit=1)[0]["cid"] for c in names}
    n = len(names)

    def cls(k: int) -> str:
        return names[k % n]

    rs = range(repeats)
    return [
        ("Queries form (baseline)", set(), "Named query", ["page=Queries"] * repeats),
        ("Channel", set(), "Images of", [f"page=Channel&cid={top[cls(r)].replace('#', '%23')}&cls={cls(r)}"
                                          for r in rs]),
        ("Class Distinctive (hover cards)", {"attribution"}, "Distinctive channels",
         [f"page=Class&cls={cls(r + 3)}&support=0.25&view=Distinctive" for r in rs]),
        ("Class Shared (hover cards)", {"shared_edges"}, "Channel frequency per layer",
         [f"page=Class&cls={cls(r + 6)}&support=0.5" for r in rs]),
        ("Image (this image's patches)", {"original", "explanation"}, "confidence on e",
         [f"page=Image&cls={cls(r + 1)}&image={first_image[cls(r + 1)]}" for r in rs]),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seed_arguments(ap)
    args = ap.parse_args(argv)
    reason = browser_missing()
    if reason:
        print(f"skipped: {reason}")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "store.lbug"
        if not path.exists():
            print(f"seeding {args.images} images: {seed_store(path, args.images, args.classes):.0f} s", flush=True)
        url = f"ladybug://{path}"
        pages = plan(url, args.repeats)
        rows = []
        with explorer_server(url) as base, chromium_page() as page:
            open_page(page, base, "page=Queries", text="Named query")  # the server's and browser's first page
            for name, graphs, text, queries in pages:
                cold, warm = [], []
                for q in queries:
                    cold.append(open_page(page, base, q, graphs=graphs, text=text))
                    warm.append(open_page(page, base, q, graphs=graphs, text=text))
                rows.append((name, cold, warm))
        with open_store(url, read_only=True) as s:
            stats = s.stats()
    floor = statistics.median(rows[0][2])
    print(f"{stats['images']} images, {stats['acts']} acts (each with a patch), {time.strftime('%H:%M:%S')}")
    print(f"{'page':34} {'cold':>7} {'warm':>7} {'warm/baseline':>14} {'<= 2 s':>7}")
    for name, cold, warm in rows:
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"{name:34} {c:7.2f} {w:7.2f} {w / floor:14.1f} {'yes' if max(c, w) <= 2 else 'NO':>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
