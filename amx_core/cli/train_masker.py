"""`amx-train-masker`: train one mask generator over many images (amortised mode) and write it to a file
that amx-explain and amx-ingest take with --masker FILE [--refine-steps N].

    amx-train-masker --images DIR --model efficientnet_lite0 --out masker.pt [--epochs N] [--preset default]
        [--teacher default]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..config import get_preset
from ..errors import AmxError, run_cli
from .options import add_common_flags, add_model_options, model_options, setup_logging


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amx-train-masker",
                                description="train one mask generator over many images (amortised mode)")
    p.add_argument("--images", required=True, nargs="+", help="image folder(s) or files to train on")
    p.add_argument("--out", required=True, help="masker file to write")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--preset", default="default", help="compact | default | relaxed | object")
    p.add_argument("--holdout-list", default=None,
                   help="a file of image paths or sha256 hashes (one a line) never to train on")
    p.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    p.add_argument("--teacher", default=None, metavar="PRESET",
                   help="distil: explain each training image with this per-image preset first (seconds per image) "
                        "and train the masker to rank as it chose (on 57 photos it learned no more than the "
                        "class-activation map: docs/method.md)")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    add_model_options(p)
    add_common_flags(p, "amx-train-masker")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args, "amx-train-masker")
    return run_cli("amx-train-masker", lambda: run(args), interrupted="nothing written")


def read_holdout(path: str | Path) -> set[str]:
    """The image paths, names and sha256 hashes in a hold-out list (one a line, # comments)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise AmxError(f"--holdout-list {p}: {'missing' if not p.exists() else exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AmxError(f"--holdout-list {p}: not a text file") from None
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def run(args: argparse.Namespace) -> int:
    import torch

    from ..explain import teacher_masks_of, train_masker
    from ..images import discover_images, file_sha256, load_image
    from ..models import check_device, load_classifier
    from ..progress import ProgressBar

    if args.epochs < 1:
        raise AmxError(f"--epochs {args.epochs}: must be at least 1")
    if args.batch_size < 1:
        raise AmxError(f"--batch-size {args.batch_size}: must be at least 1")
    config = get_preset(args.preset).with_(seed=args.seed)
    if args.teacher:
        get_preset(args.teacher)  # an unknown preset fails before the model loads
    holdout = read_holdout(args.holdout_list) if args.holdout_list else set()
    out = Path(args.out)
    if out.is_dir():
        raise AmxError(f"--out {out}: is a folder, expected a file name")
    skipped: list[str] = []

    def fail(err) -> None:
        skipped.append(str(err))
        print(f"amx-train-masker: skipped {err}", file=sys.stderr)

    files = discover_images(args.images, recursive=args.recursive, on_error=fail)
    device = check_device(args.device)
    classifier = load_classifier(args.model, weights=args.weights, device=device, **model_options(args))
    keep, pixels, hashes, held = [], [], [], 0
    for f in files:
        try:
            sha = file_sha256(f)
            if sha in holdout or str(f) in holdout or f.name in holdout:
                held += 1
                continue
            pixels.append(classifier.preprocess(load_image(f)))
        except AmxError as err:
            fail(err)
            continue
        keep.append(f)
        hashes.append(sha)
    if not pixels:
        raise AmxError(f"no training images in {' '.join(args.images)}" + (f" ({held} held out)" if held else ""))
    n = len(pixels)
    batch = torch.stack(pixels).to(device)
    teacher = None
    if args.teacher:
        teacher_bar = ProgressBar(n, f"{args.teacher} masks")
        teacher = teacher_masks_of(classifier, batch, get_preset(args.teacher),
                                   progress=lambda done, total: teacher_bar.advance())
        teacher_bar.close()
    bar = ProgressBar(args.epochs * ((n + min(args.batch_size, n) - 1) // min(args.batch_size, n)), "train masker")
    t0 = time.perf_counter()
    masker = train_masker(classifier, batch, config=config, epochs=args.epochs,
                          batch_size=args.batch_size, augment=not args.no_augment, seed=args.seed,
                          teacher_masks=teacher, progress=lambda done, total: bar.advance())
    bar.close()
    masker.image_hashes = tuple(hashes)
    masker.info["files"] = [str(f) for f in keep]
    masker.save(out)
    print(f"amx-train-masker: trained on {n} images ({held} held out, {len(skipped)} skipped) in "
          f"{time.perf_counter() - t0:.0f} s; start area {masker.start_area:.1%}; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
