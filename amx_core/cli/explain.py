"""`amx-explain`: explain image files with the activation-matching explainer and write what it found.

Per image, under OUT/<stem>-<sha8>/: original.png (the 224x224 input the classifier saw, before
normalisation), mask.png (white = kept), explanation.png (exactly the classifier's input), figure.png
(paper Fig. 1 top row), record.json (every metric and the config), arrays.npz (the soft ranking as float16 and
the binary mask as uint8, to compare with other saliency methods); with --circuits also circuits.png
and the two circuits as JSON and GraphML.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import EXIT_OK, EXIT_SOME_FAILED, AmxError, BadImageError, run_cli
from .options import add_common_flags, add_model_options, model_options, setup_logging


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amx-explain", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images")
    p.add_argument("--class", dest="class_name", default=None,
                   help="explain this class (a name of the model's labels, ImageNet's by default, or an index) "
                        "instead of each image's top-1")
    p.add_argument("--preset", default=None, help="compact | default (the default) | robust | relaxed | object")
    p.add_argument("--out", default="out/explain", help="output folder (default: out/explain)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the preset's)")
    p.add_argument("--recursive", action="store_true", help="also look in subfolders")
    p.add_argument("--circuits", action="store_true",
                   help="also read the original's and the explanation's circuits and draw them")
    p.add_argument("--masker", default=None,
                   help="amortised mode: a mask generator file from amx-train-masker (one generator pass per "
                        "image instead of per-image optimisation)")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="with --masker: per-image refinement steps after the generator pass (default 0)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per explained image on stdout (file, folder, classes, mask area, ...)")
    add_model_options(p)
    add_common_flags(p, "amx-explain")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args, "amx-explain")
    return run_cli("amx-explain", lambda: run(args), interrupted="finished images are in place, rerun to do the rest")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..images import discover_images, file_sha256, load_image
    from ..models import check_device, load_classifier, resolve_class
    from ..pipeline import explain_and_read, explain_settings, for_classifier
    from ..progress import ProgressBar

    if args.batch_size < 1:
        raise AmxError(f"--batch-size {args.batch_size}: must be at least 1")
    # a masker file is read here, before any image
    settings = explain_settings(preset=args.preset, seed=args.seed, steps=args.steps, masker=args.masker,
                                refine_steps=args.refine_steps, model=args.model, device=args.device)
    args.preset = None if args.masker else args.preset or "default"  # the record's preset: none with a masker
    device = check_device(args.device)
    failures: list[str] = []

    def fail(err: BadImageError) -> None:
        failures.append(str(err))
        print(f"amx-explain: skipped {err}", file=sys.stderr)

    files = discover_images(args.inputs, recursive=args.recursive, on_error=fail)
    if not files:
        raise AmxError(f"no image files found in {' '.join(args.inputs)}")
    classifier = load_classifier(args.model, weights=args.weights, device=device, **model_options(args))
    settings = for_classifier(settings, classifier)  # the record shows the layer weights the explainer used
    classes = classifier.classes
    target = resolve_class(args.class_name, classes) if args.class_name is not None else None
    out_root = Path(args.out)
    bar = ProgressBar(len(files), "explain", disable=args.quiet)
    done = 0
    statuses: list[tuple[int, str]] = []  # per explained image: the class's rank on it, the status
    for start in range(0, len(files), args.batch_size):
        batch: list[tuple[Path, str, torch.Tensor]] = []
        for path in files[start : start + args.batch_size]:
            try:
                pixels = classifier.preprocess(load_image(path))
                batch.append((path, file_sha256(path), pixels))
            except BadImageError as err:
                fail(err)
                bar.advance()
        if not batch:
            continue
        explained = explain_and_read(
            classifier=classifier, pixels=torch.stack([p for _, _, p in batch]).to(device), settings=settings,
            targets=[target] * len(batch) if target is not None else None, image_ids=[sha for _, sha, _ in batch],
            circuits=args.circuits,
        )
        for (path, sha, _), item in zip(batch, explained, strict=True):
            ex = item.explanation
            record = _record(path, sha, ex, classes, args, settings.config)
            if settings.masker is not None:
                record["masker"] = {"file": str(args.masker), "refine_steps": args.refine_steps,
                                    "trained_on_this_image": sha in settings.masker.image_hashes}
            if item.circuits:
                original, explanation = item.circuits
                record["circuits"] = {"original": original, "explanation": explanation,
                                      "edge_jaccard": item.edge_jaccard}
            folder = out_root / f"{path.stem}-{sha[:8]}"
            _write_outputs(folder, ex, record, classes)
            done += 1
            if args.json:
                print(json.dumps(_json_line(record, folder), default=str), flush=True)
            m = ex.metrics
            statuses.append((m.get("rank_x", 1), m.get("status", "kept" if m["label_kept"] else "not kept")))
            bar.advance(note=f"{path.name}: area {m['mask_area']:.1%}, rank {m.get('rank_x', 1)}, "
                             f"{m.get('status', m['label_kept'])}")
    bar.close()
    lower = [s for r, s in statuses if r > 1]
    counts = ", ".join(f"{sum(s == k for _, s in statuses)} {k}" for k in ("kept", "not kept", "not recognised"))
    if not args.quiet:
        print(f"amx-explain: {done} explained ({counts}; class not the model's top-1 on {len(lower)}, evidence kept on "
              f"{lower.count('kept')}), {len(failures)} failed; outputs in {out_root}/", file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _record(path: Path, sha: str, ex, classes: list[str], args, config) -> dict:
    m = dict(ex.metrics)
    return {
        "file": str(path),
        "image_id": sha,
        "model": args.model,
        "preset": args.preset,
        "config": asdict(config),
        "target_name": classes[ex.target],
        "predicted_x_name": classes[m["predicted_x"]],
        "predicted_e_name": classes[m["predicted_e"]],
        "metrics": m,
    }


def _json_line(record: dict, folder: Path) -> dict:
    """What --json prints for one image: the record without the config, with the output folder."""
    m = record["metrics"]
    line = {k: v for k, v in record.items() if k not in ("config", "metrics", "circuits", "masker")}
    line["folder"] = str(folder)
    line.update({k: m[k] for k in ("target", "predicted_x", "predicted_e", "mask_area", "label_kept", "status",
                                   "confidence_x", "confidence_e", "robustness") if k in m})
    if "circuits" in record:
        line["edge_jaccard"] = record["circuits"].get("edge_jaccard")
    return line


def _write_arrays(path: Path, ex) -> None:
    """The soft ranking (the pixel saliency amx-bench ranks by; higher = kept first) as float16 [H,W] and the
    binary mask as uint8 [H,W] (1 = kept), for comparison with other methods' saliency maps."""
    import numpy as np

    h, w = ex.mask.shape[-2:]
    np.savez_compressed(path, ranking=ex.rank_map.detach().reshape(h, w).float().cpu().numpy().astype(np.float16),
                        mask=(ex.mask.detach().reshape(h, w) > 0.5).cpu().numpy().astype(np.uint8))


def _write_outputs(folder: Path, ex, record: dict, classes: list[str]) -> None:
    """Write into a temporary folder, then swap it in: a folder is complete or absent, never half-written."""
    from ..figures import to_pil, write_circuit_figure, write_explanation_figure

    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    to_pil(ex.pixels).save(tmp / "original.png")
    to_pil(ex.mask).save(tmp / "mask.png")
    to_pil(ex.explanation).save(tmp / "explanation.png")
    _write_arrays(tmp / "arrays.npz", ex)
    m = ex.metrics
    write_explanation_figure(
        tmp / "figure.png", ex.pixels, ex.mask, ex.explanation,
        title_original=f"original: {classes[m['predicted_x']]} ({m['confidence_x']:.2f})",
        title_mask=f"0/1 mask: {m['mask_area']:.1%} of pixels",
        title_explanation=(f"explanation: {classes[m['predicted_e']]} ({m['confidence_e']:.2f})"
                           + (f", robust {m['robustness']:.0%}" if "robustness" in m else "")),
    )
    circuits = record.pop("circuits", None)
    if circuits:
        write_circuit_figure(circuits["original"], circuits["explanation"], tmp / "circuits.png")
        for kind in ("original", "explanation"):
            c = circuits[kind]
            (tmp / f"circuit_{kind}.json").write_text(c.to_json())
            c.write_graphml(tmp / f"circuit_{kind}.graphml")
        record["circuits"] = {
            "edge_jaccard": circuits["edge_jaccard"],
            "original": circuits["original"].metrics,
            "explanation": circuits["explanation"].metrics,
        }
    record["written"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    (tmp / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
