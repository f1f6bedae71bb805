"""`amx-bench`: AMX against established explanation methods on the same images, model and machine.

Every method runs on every image (one image at a time, the classifier's own top-1 class as target);
the same metric code scores every method (amx_bench.sufficiency, amx_core.metrics):
- minimal sufficient area: the smallest fraction of top-ranked pixels, on a ladder of 0.5% steps up to
  10% then 1% steps, that keeps the top-1 label with every other pixel the classifier's grey baseline;
- label kept and robustness (share of 16 random backgrounds outside the mask keeping the label) at it;
- deletion and insertion AUC (RISE protocol: delete to grey, insert into a blurred copy);
- wall time and classifier passes (images forwarded, backward passes) per image, counted by a hook.
Methods that make their own binary mask (AMX, Extremal Perturbations) get a second row, "mask as is".
With --stability N, every method also runs with seeds SEED+1..SEED+N-1 on every photo: the median pairwise
IoU of its binary masks (its own mask where it makes one, else its minimal sufficient mask) and Spearman
correlation of its rankings (amx_bench.stability; deterministic methods score 1).

Writes OUT/bench.md (summary and per-image tables), OUT/bench.csv (one row per image and method),
OUT/stability.csv with --stability (one row per image and method) and OUT/grid.png (one row per image,
one column per method).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amx_core.errors import EXIT_OK, EXIT_SOME_FAILED, AmxError, BadImageError, run_cli

STABILITY_FIELDS = ["image", "method", "seeds", "mask_iou", "rank_spearman", "areas"]
CSV_FIELDS = ["image", "method", "variant", "target", "class", "area", "label_kept", "robustness", "deletion_auc",
              "insertion_auc", "seconds", "forward_passes", "backward_passes", "runs_in"]


def build_parser() -> argparse.ArgumentParser:
    from amx_core.cli.options import version_text

    from .methods import METHODS

    p = argparse.ArgumentParser(prog="amx-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=version_text("amx-bench"))
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--model", default="efficientnet_lite0", help="classifier (default: efficientnet_lite0)")
    p.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                   help=f"comma- or space-separated; default: all of {', '.join(METHODS)}")
    p.add_argument("--out", default="out/bench", help="output folder (default: out/bench)")
    p.add_argument("--limit", type=int, default=0, help="only the first N images (sorted by path); 0 = all")
    p.add_argument("--subset", action="append", default=[], metavar="METHOD[,METHOD]:N",
                   help="run these (expensive) methods on the first N images only, e.g. rise:3 (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--auc-steps", type=int, default=16, help="points of the deletion/insertion curves minus one")
    p.add_argument("--robustness-samples", type=int, default=16)
    p.add_argument("--seed", type=int, default=0, help="every method's seed (AMX: its config's; others: torch's)")
    p.add_argument("--stability", type=int, default=0, metavar="N",
                   help="also run every method with N seeds per photo (SEED..SEED+N-1) and report how much its "
                        "mask and ranking move (median pairwise mask IoU, ranking Spearman); 0 = off")
    p.add_argument("--no-figure", action="store_true", help="skip the figure grid")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("amx-bench", lambda: run(args, argv if argv is not None else sys.argv[1:]),
                   interrupted="rows finished so far are in bench.csv")


def parse_methods(values: list[str] | None) -> list[str]:
    from .methods import METHODS, get_method

    if not values:
        return list(METHODS)
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise AmxError(f"--methods: name at least one of {', '.join(METHODS)}")
    for n in names:
        get_method(n)
    return list(dict.fromkeys(names))


def usable_methods(methods: list, *, explicit: bool) -> list:
    """Methods named with --methods must all run (one clear error otherwise); from the default list, a
    peer whose package is missing is left out with a one-line note, so the bench runs without the extra."""
    from .methods import check_available

    if explicit:
        for m in methods:
            check_available(m)
        return methods
    usable = []
    for m in methods:
        try:
            check_available(m)
            usable.append(m)
        except AmxError as exc:
            print(f"amx-bench: note: left out {m.name}: {exc}", file=sys.stderr)
    return usable


def parse_subset(values: list[str], methods: list[str]) -> dict[str, int]:
    """`["rise,extremal-perturbation:3"]` -> {"rise": 3, "extremal-perturbation": 3}."""
    out: dict[str, int] = {}
    for v in values:
        names, sep, count = v.rpartition(":")
        if not sep or not count.isdigit() or int(count) < 1:
            raise AmxError(f"--subset {v}: expected METHOD[,METHOD]:N with N at least 1, e.g. rise:3")
        for name in (n.strip() for n in names.split(",") if n.strip()):
            if name not in methods:
                raise AmxError(f"--subset {v}: {name!r} is not among the methods run ({', '.join(methods)})")
            out[name] = int(count)
    return out


@dataclass
class Row:
    image: str
    method: str
    variant: str  # "ranking" (minimal sufficient area of the saliency ranking) | "mask as is"
    target: int
    class_name: str
    area: float
    label_kept: bool
    robustness: float
    deletion_auc: float | None
    insertion_auc: float | None
    seconds: float
    forward_passes: int
    backward_passes: int
    runs_in: str

    @property
    def key(self) -> str:
        return self.method if self.variant == "ranking" else f"{self.method} (mask as is)"

    def csv(self) -> dict:
        def f(v):
            return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)

        return {"image": self.image, "method": self.method, "variant": self.variant, "target": self.target,
                "class": self.class_name, "area": f(self.area), "label_kept": int(self.label_kept),
                "robustness": f(self.robustness), "deletion_auc": f(self.deletion_auc),
                "insertion_auc": f(self.insertion_auc), "seconds": f(self.seconds),
                "forward_passes": self.forward_passes, "backward_passes": self.backward_passes,
                "runs_in": self.runs_in}


def run(args: argparse.Namespace, argv: list[str]) -> int:
    import torch

    from amx_core.images import discover_images, load_image
    from amx_core.models import check_device, imagenet_classes, load_classifier

    from .methods import get_method

    images_dir = Path(args.images)
    if not images_dir.exists():
        raise AmxError(f"--images {args.images}: no such folder")
    if not images_dir.is_dir():
        raise AmxError(f"--images {args.images}: not a folder")
    if args.stability == 1 or args.stability < 0:
        raise AmxError(f"--stability {args.stability}: 0 (off) or at least 2 seeds")
    for flag, value, low in (("--limit", args.limit, 0), ("--threads", args.threads, 1),
                             ("--auc-steps", args.auc_steps, 1), ("--robustness-samples", args.robustness_samples, 1)):
        if value < low:
            raise AmxError(f"{flag} {value}: must be at least {low}")
    methods = [get_method(n) for n in parse_methods(args.methods)]
    subset = parse_subset(args.subset, [m.name for m in methods])
    device = check_device(args.device)
    failures: list[str] = []

    def fail(err: BadImageError) -> None:
        failures.append(str(err))
        print(f"amx-bench: skipped {err}", file=sys.stderr)

    files = discover_images([images_dir], recursive=True, on_error=fail)
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise AmxError(f"no image files found in {args.images}")
    methods = usable_methods(methods, explicit=bool(args.methods))
    torch.set_num_threads(args.threads)
    classifier = load_classifier(args.model, device=device)
    classes = imagenet_classes()
    loaded: list[tuple[Path, torch.Tensor]] = []
    for path in files:
        try:
            loaded.append((path, classifier.preprocess(load_image(path)).to(device)))
        except BadImageError as err:
            fail(err)
    if not loaded:
        raise AmxError(f"none of the {len(files)} image files in {args.images} could be read")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_in = {m.name: _runs_in(m) for m in methods}
    with torch.no_grad():
        classifier(loaded[0][1][None])  # warm-up outside every timing
    rows: list[Row] = []
    stable: list[dict] = []
    maps: dict[tuple[str, str], tuple] = {}
    root = images_dir
    with open(out / "bench.csv", "w", newline="") as fh, \
            open(out / "stability.csv", "w", newline="") if args.stability else io.StringIO() as sfh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        swriter = csv.DictWriter(sfh, fieldnames=STABILITY_FIELDS)
        swriter.writeheader()
        for n, (path, image) in enumerate(loaded, 1):
            name = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
            with torch.no_grad():
                target = int(classifier(image[None]).argmax(1))
            for m in methods:
                if n > subset.get(m.name, len(loaded)):
                    continue
                new, shown = _evaluate(classifier, image, target, m, name, classes[target], runs_in[m.name], args)
                maps[(name, m.name)] = shown
                for row in new:
                    writer.writerow(row.csv())
                    fh.flush()
                rows += new
                r = new[0]
                print(f"amx-bench: [{n}/{len(loaded)}] {name} {m.name}: area {r.area:.1%}, "
                      f"{r.seconds:.1f} s, {r.forward_passes} passes", file=sys.stderr)
                if args.stability:
                    st = _stability(classifier, image, target, m, shown, args) | {"image": name, "method": m.name}
                    swriter.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in st.items()})
                    sfh.flush()
                    stable.append(st)
                    print(f"amx-bench: [{n}/{len(loaded)}] {name} {m.name}: over {args.stability} seeds mask IoU "
                          f"{st['mask_iou']:.2f}, ranking Spearman {st['rank_spearman']:.2f}", file=sys.stderr)
    command = "amx-bench " + " ".join(shlex.quote(a) for a in argv)
    (out / "bench.md").write_text(markdown(rows, command=command, model=args.model, threads=args.threads,
                                           device=device, n_images=len(loaded), stability=stable))
    if not args.no_figure:
        write_grid(out / "grid.png", loaded, root, methods, maps)
    print(f"amx-bench: {len(loaded)} images x {len(methods)} methods; {len(failures)} files skipped; "
          f"outputs in {out}/ (bench.md, bench.csv{'' if args.no_figure else ', grid.png'})", file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _runs_in(method) -> str:
    import torch

    where = f"this env, torch {torch.__version__.split('+')[0]}"
    if method.package:
        from importlib.metadata import PackageNotFoundError, version

        try:
            where += f", {method.package} {version(method.package)}"
        except PackageNotFoundError:
            where += f", {method.package}"
    return where


def _evaluate(classifier, image, target, method, name, class_name, runs_in, args):
    """Run one method on one image and score it: rows for its ranking and its own mask, and what to draw."""
    from amx_core.config import BACKGROUND_KINDS
    from amx_core.metrics import deletion_insertion_auc, robustness_rate

    from .methods import run_method
    from .sufficiency import label_kept, minimal_sufficient_area

    att = run_method(method, classifier, image, target, seed=args.seed)
    base = classifier.baseline.reshape(3, 1, 1)
    common = dict(image=name, method=method.name, target=target, class_name=class_name, seconds=att.seconds,
                  forward_passes=att.passes.forward, backward_passes=att.passes.backward, runs_in=runs_in)

    def robust(mask):
        return robustness_rate(classifier, image, mask, target, samples=args.robustness_samples,
                               kinds=BACKGROUND_KINDS, seed=args.seed + 7919)

    suff = minimal_sufficient_area(classifier, image, att.saliency, target, baseline=base)
    deletion, insertion = deletion_insertion_auc(classifier, image, att.saliency, target, steps=args.auc_steps,
                                                 baseline=base)
    rows = [Row(variant="ranking", area=suff.area,
                label_kept=label_kept(classifier, image, suff.mask, target, baseline=base),
                robustness=robust(suff.mask), deletion_auc=deletion, insertion_auc=insertion, **common)]
    if att.mask is not None:
        rows.append(Row(variant="mask as is", area=float(att.mask.mean()),
                        label_kept=label_kept(classifier, image, att.mask, target, baseline=base),
                        robustness=robust(att.mask), deletion_auc=None, insertion_auc=None, **common))
    shown = (att.saliency.cpu(), suff.mask.cpu(), suff.area, None if att.mask is None else att.mask.cpu())
    return rows, shown


def _stability(classifier, image, target, method, shown, args) -> dict:
    """The method's stability on one photo over seeds SEED..SEED+N-1 (SEED's run is the one already scored,
    `shown`): its binary masks (own, else minimal sufficient) and rankings, compared pair by pair."""
    from .methods import run_method
    from .stability import seed_stability
    from .sufficiency import minimal_sufficient_area

    base = classifier.baseline.reshape(3, 1, 1)
    saliency, msa_mask, _area, own = shown
    masks, ranks = [own if own is not None else msa_mask], [saliency]
    for seed in range(args.seed + 1, args.seed + args.stability):
        att = run_method(method, classifier, image, target, seed=seed)
        masks.append(att.mask.cpu() if att.mask is not None else
                     minimal_sufficient_area(classifier, image, att.saliency, target, baseline=base).mask.cpu())
        ranks.append(att.saliency.cpu())
    st = seed_stability(masks, ranks)
    st["areas"] = " ".join(f"{float(mk.mean()):.4f}" for mk in masks)
    return st


# ---------------------------------------------------------------- reports


def _median(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def summarise(rows: list[Row]) -> list[dict]:
    """One dict per method variant, in first-seen order."""
    keys = list(dict.fromkeys(r.key for r in rows))
    out = []
    for key in keys:
        rs = [r for r in rows if r.key == key]
        out.append({
            "method": key, "variant": rs[0].variant, "runs_in": rs[0].runs_in, "n": len(rs),
            "median_area": _median([r.area for r in rs]),
            "mean_area": sum(r.area for r in rs) / len(rs),
            "label_kept": sum(r.label_kept for r in rs) / len(rs),
            "median_robustness": _median([r.robustness for r in rs]),
            "median_deletion": _median([r.deletion_auc for r in rs]),
            "median_insertion": _median([r.insertion_auc for r in rs]),
            "seconds": sum(r.seconds for r in rs) / len(rs),
            "forward": _median([r.forward_passes for r in rs]),
            "backward": _median([r.backward_passes for r in rs]),
        })
    return out


def speed_ratios(rows: list[Row], reference: str) -> dict[str, float]:
    """Mean seconds per image of `reference` over each AMX preset's, on the images both ran on."""
    ref = {r.image: r.seconds for r in rows if r.method == reference and r.variant == "ranking"}
    out = {}
    for method in dict.fromkeys(r.method for r in rows if r.method.startswith("amx-")):
        own = {r.image: r.seconds for r in rows if r.method == method and r.variant == "ranking"}
        common = [i for i in own if i in ref]
        if common and sum(own[i] for i in common) > 0:
            out[method] = sum(ref[i] for i in common) / sum(own[i] for i in common)
    return out


def read_rows(path: Path) -> list[Row]:
    """Rows back from a bench.csv (to rebuild the tables of a run, e.g. one cut short)."""
    def opt(v):
        return None if v == "" else float(v)

    with open(path, newline="") as fh:
        return [Row(image=d["image"], method=d["method"], variant=d["variant"], target=int(d["target"]),
                    class_name=d["class"], area=float(d["area"]), label_kept=bool(int(d["label_kept"])),
                    robustness=float(d["robustness"]), deletion_auc=opt(d["deletion_auc"]),
                    insertion_auc=opt(d["insertion_auc"]), seconds=float(d["seconds"]),
                    forward_passes=int(d["forward_passes"]), backward_passes=int(d["backward_passes"]),
                    runs_in=d["runs_in"]) for d in csv.DictReader(fh)]


def stability_table(stable: list[dict]) -> list[str]:
    """Per method: photos, seeds, median over photos of the median pairwise mask IoU and ranking Spearman."""
    lines = ["| method | photos | seeds | median mask IoU | median ranking Spearman | photos with IoU < 0.5 |",
             "|---|---:|---:|---:|---:|---:|"]
    for method in dict.fromkeys(s["method"] for s in stable):
        rs = [s for s in stable if s["method"] == method]
        lines.append(f"| {method} | {len(rs)} | {rs[0]['seeds']} | {_median([s['mask_iou'] for s in rs]):.3f} | "
                     f"{_median([s['rank_spearman'] for s in rs]):.3f} | {sum(s['mask_iou'] < 0.5 for s in rs)} |")
    return lines


def markdown(rows: list[Row], *, command: str, model: str, threads: int, device: str, n_images: int,
             stability: list[dict] | None = None) -> str:
    import os

    import torch

    def pct(v):
        return "—" if v is None else f"{100 * v:.1f}%"

    def num(v, fmt=".3f"):
        return "—" if v is None else format(v, fmt)

    summary = summarise(rows)
    header = [
        "| method | runs in | n | median area | mean area | label kept | median robustness | deletion AUC ↓ "
        "| insertion AUC ↑ | s / image | forward passes / image | backward passes / image |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def table(summary_rows):
        return header + [
            f"| {s['method']} | {s['runs_in']} | {s['n']} | {pct(s['median_area'])} | {pct(s['mean_area'])} | "
            f"{pct(s['label_kept'])} | {pct(s['median_robustness'])} | {num(s['median_deletion'])} | "
            f"{num(s['median_insertion'])} | {s['seconds']:.2f} | {num(s['forward'], '.0f')} | "
            f"{num(s['backward'], '.0f')} |" for s in summary_rows]

    lines = [
        "# amx-bench", "",
        f"`{command}`", "",
        f"Model {model}; {n_images} images; device {device}; torch {torch.__version__} with {threads} CPU "
        f"thread(s); machine {platform.machine()} with {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "Area: for a ranking, the minimal sufficient area (smallest fraction of top-ranked pixels, on a ladder "
        "of 0.5% steps to 10% then 1% steps, keeping the top-1 label with the rest the classifier's grey "
        "baseline); for a mask as is, its own area. Label kept and robustness (16 random backgrounds outside "
        "the mask) are measured at that area; a ranking keeps the label at its minimal sufficient area by "
        "construction (the ladder ends at the whole image). Deletion (lower is better) and insertion (higher is "
        "better) AUC follow the RISE protocol. Seconds and passes are per image, for the method alone "
        "(metrics excluded); passes are images forwarded and backward passes through the classifier.",
        "",
        *table(summary),
    ]
    # methods run on a subset (--subset): the same table again on exactly those images, for every method
    # that ran on all of them, so that medians compare like with like
    images_of = {k: {r.image for r in rows if r.key == k} for k in (s["method"] for s in summary)}
    all_images = set().union(*images_of.values()) if images_of else set()
    for size in sorted({len(v) for v in images_of.values() if len(v) < len(all_images)}, reverse=True):
        subset = next(v for v in images_of.values() if len(v) == size)
        keys = {k for k, v in images_of.items() if subset <= v}
        part = [r for r in rows if r.image in subset and r.key in keys]
        lines += ["", f"### The same on the {size} image(s) that every method listed here ran on", "",
                  *table(summarise(part))]
    if stability:
        lines += ["", "## Stability across seeds", "",
                  "Each photo: the median over pairs of seeds of the IoU of the binary masks (the method's own "
                  "mask where it makes one, else its minimal sufficient mask) and of the Spearman correlation "
                  "of the rankings; the table gives the median over photos (stability.csv has every photo).",
                  "", *stability_table(stability)]
    ratios = speed_ratios(rows, "extremal-perturbation")
    if ratios:
        lines += ["", "Extremal Perturbations' seconds per image over each AMX preset's, same run, on the images "
                  "both ran on: " + "; ".join(f"{k}: {v:.1f}x" for k, v in ratios.items()) + "."]
    keys = [s["method"] for s in summary]
    images = list(dict.fromkeys(r.image for r in rows))
    by = {(r.image, r.key): r for r in rows}
    lines += ["", "## Area per image (label kept: ✓ / ✗)", "",
              "| image | class | " + " | ".join(keys) + " |", "|---|---|" + "---:|" * len(keys)]
    for img in images:
        first = next(r for r in rows if r.image == img)
        cells = []
        for k in keys:
            r = by.get((img, k))
            cells.append("—" if r is None else f"{100 * r.area:.1f}% {'✓' if r.label_kept else '✗'}")
        lines.append(f"| {img} | {first.class_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_grid(path: Path, loaded, root: Path, methods, maps) -> Path:
    """One row per image, one column per method: the saliency over the image, pixels outside its minimal
    sufficient mask dimmed (and the method's own mask outlined in cyan where it makes one)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = 1 + len(methods)
    rows = len(loaded)
    fig = Figure(figsize=(1.7 * cols, 1.8 * rows))
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for i, (p, image) in enumerate(loaded):
        name = str(p.relative_to(root)) if p.is_relative_to(root) else p.name
        img = image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()
        axes[i, 0].imshow(img)
        axes[i, 0].set_title(name[-24:], fontsize=6)
        for j, m in enumerate(methods, 1):
            ax = axes[i, j]
            if (name, m.name) not in maps:
                continue
            sal, msa, area, own = maps[(name, m.name)]
            s = sal.numpy()
            lo, hi = np.percentile(s, [1, 99])  # robust to the few extreme pixels of gradient methods
            s = np.clip((s - lo) / (hi - lo + 1e-12), 0, 1)
            keep = msa[0].numpy()[..., None]
            ax.imshow(img * (0.25 + 0.75 * keep))  # pixels outside the minimal sufficient mask dimmed
            ax.imshow(s, cmap="jet", alpha=0.35, vmin=0, vmax=1)
            title = f"{m.label}\nMSA {100 * area:.1f}%"
            if own is not None:
                ax.contour(own[0].numpy(), levels=[0.5], colors="cyan", linewidths=0.6)
                title += f", mask {100 * float(own.mean()):.1f}%"
            ax.set_title(title, fontsize=6)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    sys.exit(main())
