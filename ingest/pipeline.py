"""The ingest job: find images, explain them in batches, read both circuits, write each image in one
transaction, and resume where an earlier run stopped (an image already stored under the same class,
model and config is skipped; one stored under another class is explained again and moved to this one).
Every run ends by rebuilding the class summaries that are stale (those its writes touched, including a
class an image moved away from, and any an interrupted run left). Torch lives here and in amx_core only;
the store sees plain data.
"""

from __future__ import annotations

import signal
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amx_core.circuit import ImageRecord, config_hash
from amx_core.errors import AmxError, BadImageError, StoreError

if TYPE_CHECKING:
    from amx_core.models import Classifier
    from amx_core.pipeline import ExplainedImage, ExplainSettings
    from amx_core.progress import ProgressBar
    from amx_core.readout import ReadoutConfig
    from cypher import Store


@dataclass(frozen=True)
class IngestOptions:
    class_name: str
    images: tuple[str, ...]
    store: str | None = None
    model: str = "efficientnet_lite0"
    weights: str | None = None
    preset: str | None = None  # None: "default" (a masker file carries its own config)
    batch_size: int = 8
    device: str = "cpu"
    recursive: bool = False
    limit: int | None = None
    force: bool = False
    workers: int = 2
    seed: int = 0
    explain_target: str = "class"  # "class": the given class | "predicted": each image's top-1
    steps: int | None = None  # override the preset's optimisation steps
    masker: str | None = None  # amortised mode: a generator file from amx-train-masker
    atlas: bool = True  # the channel atlas: store each kept channel's input patch at its peak (amx_core.atlas)
    refine_steps: int = 0  # with `masker`: per-image refinement steps after the generator pass
    # load_classifier's other options: labels, taps, head, input_size, mean, std, resize
    model_options: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False  # no progress bar (skipped files and errors are still reported)
    executor: str = "local"  # where batches are explained: "local" (this process) or "ray" (ingest.executors)
    ray_address: str | None = None  # with executor="ray": the cluster (None: $RAY_ADDRESS, else a local one)
    gpus_per_worker: float | None = None  # with executor="ray": GPUs per worker (`workers` is the worker count)


@dataclass
class Summary:
    found: int = 0
    ingested: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # "path (was CLASS)": stored before under another class
    summaries_rebuilt: list[str] = field(default_factory=list)  # classes whose summary this run rebuilt
    disagreeing: int = 0
    # the explained class's rank on the photo ("1st", "2nd-5th", "lower") and the explanation's status
    # ("kept", "not kept", "not recognised"; see amx_core.explain.explanation.evidence_kept)
    by_rank: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    lower_kept: int = 0  # of the images whose class is not the top-1: evidence kept
    mask_areas: list[float] = field(default_factory=list)
    robustness: list[float] = field(default_factory=list)
    seconds_explaining: float = 0.0
    seconds_readout: float = 0.0
    seconds_writing: float = 0.0
    seconds_atlas: float = 0.0  # cutting the channel atlas's patches (part of the total, not of the three above)
    seconds_total: float = 0.0
    interrupted: bool = False

    def count(self, m: dict[str, Any]) -> None:
        """Add one explanation's rank and status (its metrics) to the counts."""
        rank = int(m.get("rank_x", 1))
        band = "1st" if rank == 1 else "2nd-5th" if rank <= 5 else "lower"
        self.by_rank[band] = self.by_rank.get(band, 0) + 1
        status = m.get("status", "kept" if m.get("label_kept") else "not kept")
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.lower_kept += int(rank > 1 and bool(m.get("label_kept")))

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and self.ingested + self.skipped == self.found

    def table(self) -> str:
        med = lambda xs: f"{statistics.median(xs):.3f}" if xs else "-"  # noqa: E731
        rate = self.ingested / self.seconds_total if self.seconds_total else 0.0
        rows = [
            ("images found", str(self.found)),
            ("ingested", str(self.ingested)),
            ("skipped (already stored)", str(self.skipped)),
            ("moved from another class", str(len(self.moved))),
            ("failed", str(len(self.failed))),
            ("prediction differs from --class", str(self.disagreeing)),
            ("class's rank on the photo: 1st / 2nd-5th / lower",
             " / ".join(str(self.by_rank.get(k, 0)) for k in ("1st", "2nd-5th", "lower"))),
            ("class not the top-1: evidence kept",
             f"{self.lower_kept} of {self.by_rank.get('2nd-5th', 0) + self.by_rank.get('lower', 0)}"),
            ("status: kept / not kept / not recognised",
             " / ".join(str(self.by_status.get(k, 0)) for k in ("kept", "not kept", "not recognised"))),
            ("median mask area", med(self.mask_areas)),
            ("median robustness", med(self.robustness)),
            ("images per second", f"{rate:.3f}"),
            ("time explain / readout / write (s)",
             f"{self.seconds_explaining:.1f} / {self.seconds_readout:.1f} / {self.seconds_writing:.1f}"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"  {k.ljust(width)}  {v}" for k, v in rows]
        lines += [f"  failed: {reason}" for reason in self.failed]
        lines += [f"  moved to this class: {m}" for m in self.moved[:20]]
        if len(self.moved) > 20:
            lines.append(f"  moved to this class: … and {len(self.moved) - 20} more")
        if self.summaries_rebuilt:
            lines.append(f"  class summaries rebuilt: {', '.join(self.summaries_rebuilt)}")
        return "\n".join(lines)


class _StopAfterBatch:
    """First Ctrl-C: finish the current batch, then stop. A second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, *_):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\namx-ingest: stopping after this batch (Ctrl-C again to stop now)", file=sys.stderr)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def run_ingest(opts: IngestOptions, *, report: Callable[[str], None] | None = None, classifier=None) -> Summary:
    """Run the job; `classifier` replaces loading `opts.model` (tests pass a small one)."""

    from amx_core.images import discover_images, file_sha256, load_image
    from amx_core.models import check_device, load_classifier, resolve_class
    from amx_core.pipeline import explain_settings
    from amx_core.progress import ProgressBar
    from amx_core.readout import ReadoutConfig
    from cypher import open_store

    from .executors import ExplainRecipe, make_executor

    say = report or (lambda msg: print(msg, file=sys.stderr))
    summary = Summary()
    t0 = time.perf_counter()
    if opts.batch_size < 1:
        raise AmxError(f"--batch-size {opts.batch_size}: must be at least 1")
    if opts.explain_target not in ("class", "predicted"):
        raise AmxError(f"--explain-target {opts.explain_target!r}: expected class or predicted")
    # with Ray the driver only decodes, hashes and writes: its model copy (shipped to the workers) stays on the CPU
    device = opts.device if opts.executor == "local" else "cpu"
    if classifier is None:  # before the class: the model's labels (or its head's size) name the classes
        classifier = load_classifier(opts.model, weights=opts.weights, device=check_device(device),
                                     **opts.model_options)
    classes = classifier.classes
    class_index = resolve_class(opts.class_name, classes)
    class_name = classes[class_index]
    settings = explain_settings(preset=opts.preset, seed=opts.seed, steps=opts.steps, masker=opts.masker,
                                refine_steps=opts.refine_steps, device=device,
                                model=classifier.spec.name)
    readout = ReadoutConfig()
    key = {"explain": asdict(settings.config), "readout": asdict(readout), "target": opts.explain_target}
    if settings.masker is not None:  # amortised results are stored apart from per-image ones (and per masker file)
        key["masker"] = {"sha256": file_sha256(opts.masker), "refine_steps": opts.refine_steps}
    own_weights = opts.weights not in (None, "random")
    if own_weights or set(opts.model_options) - {"labels"}:  # another weights file, taps or preprocessing of
        s = classifier.spec  # the same --model: stored apart (a rerun must not skip them as already stored)
        key["model"] = {"taps": list(s.taps), "head": s.head, "input_size": s.crop, "resize": s.resize,
                        "mean": list(s.mean), "std": list(s.std),
                        "weights": file_sha256(opts.weights) if own_weights else opts.weights}
    chash = config_hash(key)

    def fail(err: BadImageError | str) -> None:
        summary.failed.append(str(err))
        say(f"amx-ingest: skipped {err}")

    # Listing the files is quick and opens nothing: no images found is an error before the store is
    # opened (so no empty store file is created). Then the store: an unreachable or read-only store
    # fails before any minute is spent explaining.
    files = discover_images(opts.images, recursive=opts.recursive, on_error=fail)
    if opts.limit is not None:
        files = files[: opts.limit]
    summary.found = len(files) + len(summary.failed)
    if not files and not summary.failed:
        raise AmxError(f"no image files found in {' '.join(opts.images)}")
    store = open_store(opts.store)
    try:
        store.ensure_schema()
        executor = make_executor(  # local, or Ray workers started (and the model loaded there) before the bar
            opts.executor, classifier=classifier, write=lambda path, sha, item: _write_image(path, sha, item, job),
            recipe=ExplainRecipe(settings, readout, class_index if opts.explain_target == "class" else None),
            ray_address=opts.ray_address, workers=opts.workers, gpus_per_worker=opts.gpus_per_worker,
            device=opts.device, say=say)
        bar = ProgressBar(len(files), f"ingest {class_name}", disable=opts.quiet)
        job = _Job(opts=opts, classifier=classifier, store=store, settings=settings, readout=readout, chash=chash,
                   classes=classes, class_index=class_index, summary=summary, bar=bar)
        with _StopAfterBatch() as stop, ThreadPoolExecutor(max(1, opts.workers)) as pool, closing(executor):
            for start in range(0, len(files), opts.batch_size):
                if stop.requested:
                    summary.interrupted = True
                    break
                chunk = files[start : start + opts.batch_size]
                loaded = list(pool.map(lambda p: _load(p, file_sha256, load_image, classifier), chunk))
                todo = []
                for path, item in zip(chunk, loaded, strict=True):
                    if isinstance(item, BadImageError):
                        fail(item)
                        bar.advance()
                        continue
                    stored_class, stored = store.stored_image(item[0], classifier.spec.name, chash)
                    if stored and stored_class == class_name and not opts.force:
                        summary.skipped += 1
                        bar.advance(note=f"{path.name}: already stored")
                    else:
                        todo.append((path, *item))
                if todo:
                    executor.submit(todo)  # local: explained and written now; ray: written when it comes back
            executor.finish()  # batches still with the workers (after Ctrl-C too) are written
            bar.close()
        # Every run ends by rebuilding the class summaries its writes marked stale, and any an earlier
        # run left marked when it was killed between its last write and this step.
        t = time.perf_counter()
        summary.summaries_rebuilt = store.rebuild_stale()
        summary.seconds_writing += time.perf_counter() - t
    finally:
        store.close()
    summary.seconds_total = time.perf_counter() - t0
    return summary


@dataclass(frozen=True)
class _Job:
    """What every batch of one run shares: the options, the loaded classifier and open store, how images
    are explained and read, the store key of this model and config, and where progress goes."""

    opts: IngestOptions
    classifier: Classifier
    store: Store
    settings: ExplainSettings
    readout: ReadoutConfig
    chash: str
    classes: list[str]
    class_index: int
    summary: Summary
    bar: ProgressBar

    @property
    def class_name(self) -> str:
        return self.classes[self.class_index]


def _load(path: Path, sha, load, classifier):
    try:
        return sha(path), classifier.preprocess(load(path))
    except BadImageError as err:
        return err
    except OSError as err:  # e.g. the file vanished between discovery and hashing
        return BadImageError(f"{path}: unreadable ({err.strerror or err})")


def _write_image(path: Path, sha: str, item: ExplainedImage, job: _Job) -> None:
    """Write one explained image (its explanation and both circuits, from either executor) whole."""
    from amx_core.figures import jpeg_bytes, png_bytes

    opts, summary, classes = job.opts, job.summary, job.classes
    ex = item.explanation
    m = ex.metrics
    summary.seconds_explaining += item.seconds_explaining
    summary.seconds_readout += item.seconds_readout
    original, explanation = item.circuits
    for c in (original, explanation):
        c.config_hash = job.chash  # ingest's key covers the explainer's config too
    if opts.atlas:  # each kept channel's input patch at its peak, from what that circuit's pass saw
        from amx_core.atlas import add_patches, explanation_view

        t = time.perf_counter()
        add_patches(original, ex.pixels)
        add_patches(explanation, explanation_view(ex.pixels, ex.explanation))
        summary.seconds_atlas += time.perf_counter() - t
    explanation.metrics.update(mask_area=m["mask_area"], label_kept=m["label_kept"],
                               robustness=m.get("robustness"), confidence=m["confidence_e"])
    original.metrics["confidence"] = m["confidence_x"]
    predicted = m["predicted_x"]
    record = ImageRecord(
        id=sha, path=str(path), class_name=job.class_name, class_index=job.class_index,
        predicted=classes[predicted], predicted_index=predicted, confidence=m["top1_confidence_x"],
        metrics=_image_metrics(m, item.edge_jaccard, explanation.metrics, classes, opts),
        original_jpeg=jpeg_bytes(ex.pixels), mask_png=png_bytes(ex.mask),
        explanation_jpeg=jpeg_bytes(ex.explanation),
        target_rank=m["rank_x"], target_rank_e=m["rank_e"], target_confidence=m["confidence_x"],
        target_confidence_e=m["confidence_e"], criterion=m["criterion"], status=m["status"],
    )
    t = time.perf_counter()
    try:
        before = job.store.write_circuits(record, [original, explanation])
    except StoreError as err:
        raise StoreError(f"{err} — stopped at {path}; rerun the same command to finish (done images are kept)") \
            from None
    summary.seconds_writing += time.perf_counter() - t
    summary.ingested += 1
    if before is not None and before != job.class_name:
        summary.moved.append(f"{path} (was {before})")
    summary.disagreeing += int(predicted != job.class_index)
    summary.count(m)
    summary.mask_areas.append(m["mask_area"])
    if "robustness" in m:
        summary.robustness.append(m["robustness"])
    job.bar.advance(note=f"{path.name}: area {m['mask_area']:.1%}, rank {m.get('rank_x', 1)}, "
                         f"{m.get('status', m['label_kept'])}")


def _image_metrics(m: dict[str, Any], jaccard: float, expl_metrics: dict, classes, opts) -> dict[str, Any]:
    keep = ("target", "label_kept", "confidence_x", "confidence_e", "mask_area", "robustness", "deletion_auc",
            "insertion_auc", "steps", "classifier_passes", "seconds", "regions", "run")
    out = {k: m[k] for k in keep if k in m}
    out["target_name"] = classes[m["target"]]
    out["predicted_e_name"] = classes[m["predicted_e"]]
    out["edge_jaccard"] = jaccard
    out["preset"] = opts.preset or "default"
    out["explain_target"] = opts.explain_target
    if opts.masker:
        out["masker"] = opts.masker
        out["refine_steps"] = opts.refine_steps
        out["mask_source"] = m.get("mask_source")
    for k in ("suff_top1", "suff_logit_frac", "suff_random_top1", "nec_logit_drop"):
        if k in expl_metrics:
            out[f"circuit_{k}"] = expl_metrics[k]
    return out
