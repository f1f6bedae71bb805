"""The one path from images to what amx-explain and amx-ingest record: the explainer their options ask
for (a preset, or a trained masker file), then per batch the explanations and, per image, the original's
and the explanation's circuits, each verified by ablation, and the Jaccard overlap of their edges."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .circuit import Circuit, edge_jaccard
from .config import ExplainConfig, for_taps, get_preset
from .errors import AmxError
from .explain import Explanation, Masker, explain, explain_amortised, load_masker
from .models import Classifier, check_device
from .readout import DEFAULT_READOUT, ReadoutConfig, read_verified_circuits


@dataclass(frozen=True)
class ExplainSettings:
    """How images are explained: per-image optimisation with `config`, or, with `masker`, the amortised
    generator (its own config, the run's seed) and `refine_steps` per-image refinement steps."""

    config: ExplainConfig
    masker: Masker | None = None
    refine_steps: int = 0
    preset: str | None = None  # the preset's name (None with a masker file, which carries its own config)


def explain_settings(*, preset: str | None, seed: int, steps: int | None, masker: str | None, refine_steps: int,
                     model: str, device: str) -> ExplainSettings:
    """The settings amx-explain's and amx-ingest's options ask for, with one clear error per bad
    combination (a masker file carries the config it was trained with, so it takes no preset or steps).
    A masker file is read here, before any image, and must have been trained for `model`."""
    if masker and (preset is not None or steps is not None):
        raise AmxError("--masker FILE carries the config it was trained with: drop --preset and --steps")
    if refine_steps < 0:
        raise AmxError(f"--refine-steps {refine_steps}: must be at least 0")
    if refine_steps and not masker:
        raise AmxError("--refine-steps needs --masker FILE")
    config = get_preset(preset or "default").with_(seed=seed)
    if steps is not None:
        if steps < 1:
            raise AmxError(f"--steps {steps}: must be at least 1")
        config = config.with_(steps=steps)
    if not masker:
        return ExplainSettings(config, preset=preset or "default")
    loaded = load_masker(masker, model=model, device=check_device(device))
    return ExplainSettings(loaded.config.with_(seed=seed), loaded, refine_steps)


def for_classifier(settings: ExplainSettings, classifier: Classifier) -> ExplainSettings:
    """`settings` with one layer weight per tap of `classifier` (presets are written for five taps), so
    what a record shows is the config the explainer ran with."""
    from dataclasses import replace

    return replace(settings, config=for_taps(settings.config, len(classifier.spec.taps)))


@dataclass
class ExplainedImage:
    """One image's explanation and, when asked for, its two verified circuits (original, explanation)."""

    explanation: Explanation
    circuits: tuple[Circuit, Circuit] | None
    edge_jaccard: float | None
    seconds_explaining: float  # this image's share of its batch's explain call (report included)
    seconds_readout: float


def run_info(settings: ExplainSettings, *, batch_size: int, device) -> dict:
    """What decides an explanation besides the image, model and config: the seed, the preset, how many
    images shared the explain call (explain() takes them one at a time, so none of their numbers mix),
    torch's CPU threads, torch's version and the device; recorded so a stored explanation can be reproduced."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        amx = version("amx-circuits")
    except PackageNotFoundError:
        amx = None
    return {"seed": settings.config.seed, "preset": settings.preset, "batch_size": batch_size,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(device),
            "amx_circuits": amx}


def explain_and_read(*, classifier: Classifier, pixels: torch.Tensor, settings: ExplainSettings,
                     targets: list[int] | None, image_ids: Sequence[str], circuits: bool = True,
                     readout: ReadoutConfig = DEFAULT_READOUT, n_random: int = 5) -> Iterator[ExplainedImage]:
    """Explain a batch [B,3,H,W] (targets: None for each image's top-1), then read each image's circuits
    (`circuits`; `n_random` random channel sets per sufficiency check) under its id in `image_ids`.

    Yields one image at a time, as soon as its circuits are read, so a caller writes it before the next
    is read: an interrupted run keeps every image finished so far. Each explanation's metrics get a "run"
    entry (`run_info`)."""
    start = time.perf_counter()
    if settings.masker is not None:
        results = explain_amortised(classifier, pixels, settings.masker, targets=targets, config=settings.config,
                                    refine_steps=settings.refine_steps)
    else:
        results = explain(classifier, pixels, targets=targets, config=settings.config)
    share = (time.perf_counter() - start) / len(results)
    run = run_info(settings, batch_size=len(results), device=pixels.device)
    for image_id, ex in zip(image_ids, results, strict=True):
        ex.metrics["run"] = dict(run)
        start = time.perf_counter()
        pair = jaccard = None
        if circuits:
            pair = read_verified_circuits(classifier, ex.pixels, ex.explanation, ex.target, image_id=image_id,
                                          config=readout, n_random=n_random)
            jaccard = edge_jaccard(*pair)
        yield ExplainedImage(ex, pair, jaccard, share, time.perf_counter() - start)
