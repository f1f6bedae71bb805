"""After `make demo`: each stored image's class rank, status and mask area, and a check that no image has a
whole-image mask unless its status says why ("not kept" or "not recognised").

    python scripts/demo_report.py --store out/demo/store.lbug --classes cheetah,tabby

Exit code 0 when the check holds, 1 when an image with status "kept" has a mask of the whole image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cypher import open_store  # noqa: E402
from explorer.views.tables import ordinal  # noqa: E402

WHOLE = 0.999  # a mask keeping this share of the image or more keeps all of it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--classes", required=True, help="comma-separated class names")
    args = parser.parse_args(argv)
    bad = 0
    with open_store(args.store, read_only=True) as store:
        for cls in args.classes.split(","):
            rows = store.run("class_images", cls=cls)
            print(f"{cls}: {len(rows)} images")
            for r in rows:
                record = store.get_image(r["image_id"])
                area = record.metrics.get("mask_area", float("nan"))
                whole = area >= WHOLE
                bad += whole and record.status == "kept"
                print(f"  {Path(record.path).name:32} class {ordinal(record.target_rank):>5} on x "
                      f"(p {record.target_confidence or 0:.2f}) -> {ordinal(record.target_rank_e):>5} on e   "
                      f"mask {area:6.1%}   {record.status}{'   <- whole image, status kept' if whole and record.status == 'kept' else ''}")
    if bad:
        print(f"{bad} image(s) have a whole-image mask with status 'kept'", file=sys.stderr)
        return 1
    print("check: no whole-image mask without a status that says why")
    return 0


if __name__ == "__main__":
    sys.exit(main())
