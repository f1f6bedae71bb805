"""A montage of the channel atlas: for each given class, its most distinctive channel (by log-odds against the
rest of the store) and that channel's top example patches across the store.

    .venv/bin/python bench/atlas_examples.py --store out/atlas-demo/store.lbug --cls cheetah --cls tabby \
        [--kind explanation] [--out artifacts/atlas_examples.png]

Each row: the class, the channel, its support and log-odds, then up to 16 patches (64x64, the input around the
channel's peak), each labelled with the image's class and the peak value.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw

from cypher import open_store

TILE, LABEL, HEAD = 64, 12, 18


def row_image(title: str, examples: list[dict], n: int) -> Image.Image:
    n = max(1, min(n, len(examples)))
    width = max(n * (TILE + 4) + 4, 6 * len(title) + 8)
    im = Image.new("RGB", (width, HEAD + TILE + LABEL + 6), "white")
    draw = ImageDraw.Draw(im)
    draw.text((4, 3), title, fill="black")
    for k, r in enumerate(examples[:n]):
        x = 4 + k * (TILE + 4)
        im.paste(Image.open(io.BytesIO(r["patch_jpeg"])).convert("RGB").resize((TILE, TILE)), (x, HEAD))
        draw.text((x, HEAD + TILE + 1), f"{r['class'][:7]} {r['peak']:.2g}", fill="#333")
    return im


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", required=True)
    p.add_argument("--cls", action="append", required=True)
    p.add_argument("--kind", action="append", help="circuit kind(s), original and/or explanation (default both)")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--min-fraction", type=float, default=0.5)
    p.add_argument("--out", default="artifacts/atlas_examples.png")
    args = p.parse_args(argv)
    rows = []
    with open_store(args.store, read_only=True) as s:
        for cls, kind in [(c, k) for c in args.cls for k in (args.kind or ["original", "explanation"])]:
            best = s.run("distinctive_channels", cls=cls, kind=kind, min_fraction=args.min_fraction, limit=1)
            if not best:
                print(f"{cls}: no distinctive channel")
                continue
            b = best[0]
            examples = s.run("channel_examples", cid=b["cid"], kind=kind, limit=args.n)
            classes = s.run("channel_classes", cid=b["cid"], kind=kind, limit=3)
            title = (f"{cls} ({kind} circuits): most distinctive channel {b['cid']} (support {b['support']:.0%} vs "
                     f"{b['support_elsewhere']:.0%} elsewhere, log-odds {b['log_odds']:.2f}); its top examples")
            print(title)
            print("  examples by class:", {c: sum(r["class"] == c for r in examples) for c in
                                           dict.fromkeys(r["class"] for r in examples)})
            print("  channel_classes:", [(r["class"], r["images"], round(r["log_odds"], 2)) for r in classes])
            rows.append(row_image(title, examples, args.n))
    if not rows:
        return 1
    width = max(r.width for r in rows)
    out = Image.new("RGB", (width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
