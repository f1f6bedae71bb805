"""Explainer hyper-parameters: one frozen dataclass, named presets for the paper's regimes (Fig. 2, 3)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import AmxError

BACKGROUND_KINDS = ("noise", "flat", "blur", "shuffle")
CANONICAL_SEED = 0  # the draws of every explanation unless `per_seed` (issue 22)


@dataclass(frozen=True)
class ExplainConfig:
    # optimisation
    steps: int = 40
    lr: float = 0.01
    unet_lr: float | None = None  # the U-Net's own learning rate (None: `lr`); `lr` then drives the free grid
    detach_threshold: bool = False  # no gradient through the per-image standardisation and quantile shift
    mask_resolution: int = 14  # the generator's output grid, upsampled bilinearly to the input size
    width: int = 16  # channels of the generator's first level
    free_grid: bool = True  # add a free per-cell logit to the generator's output (direct spatial control)
    # start the free grid from "cam" (the class-activation map of the reference pass: no extra pass; a flat
    # start where the architecture has none), "occlusion" (prior_grid^2 passes) or "none" (flat)
    prior: str = "cam"
    prior_grid: int = 7
    # also search the ladder on a coarse occlusion ranking and keep the smaller verified binary mask
    # (prior_grid^2 forward passes plus one more ladder search, counted in classifier_passes)
    occlusion_candidate: bool = True
    # also search the ladder on the class-activation map (no extra pass to compute; no-op where the
    # architecture has none) and keep the smaller verified binary mask
    cam_candidate: bool = False
    # the amortised mode (with `cam_candidate`): also search, last, the blend of the class map and Grad-CAM
    # at the last tap finer than the last one (one forward and backward pass, counted as one; no-op where
    # the architecture has no such tap or no class map), climbing from the smallest level
    gradcam_candidate: bool = False
    # > 1: the generator is trained this many times from different starts, each ranking one more candidate
    restarts: int = 1
    # >= 2: also scan blends of the candidates' rankings (each pixel's mean percentile over every group of 2 to
    # `blends` rankings, then over all of them): pixels that several rankings agree on; free to compute, one
    # scan each below the best mask so far
    blends: int = 0
    # > 0: the candidates' ladder searches stop where an image's classifier passes would exceed this
    max_passes: int = 0
    seed: int = 0
    # False: every draw that decides the explanation (the generator's initial weights, its training
    # backgrounds, the selection's and the report's backgrounds) uses CANONICAL_SEED, so an image's
    # explanation depends only on the image, the model and the config, whatever `seed`; True: they use
    # `seed` (the per-seed variant, whose spread amx-bench --stability and explain_quality --seeds measure)
    per_seed: bool = False
    # the generator's start: its output layer at zero (the first mask is the prior, whatever the seed;
    # the network learns from there) and its hidden weights drawn with `init_seed` (None: the draw seed)
    zero_out: bool = False
    init_seed: int | None = None
    # loss weights (paper: activation matching, KL, CE, area, binarisation, TV, robustness)
    layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # alpha per tapped layer
    activation: float = 1.0
    activation_distance: str = "mse"  # "mse" | "cosine"
    kl: float = 1.0
    ce: float = 1.0
    area: float = 1.0
    binarization: float = 0.2
    tv: float = 0.5
    robustness: float = 1.0
    # area schedule: a hinge pulls the mean mask below a target that shrinks from area_start to
    # area_target over the first `area_schedule` fraction of the steps (avoids the all-on/all-off split)
    area_start: float = 0.5
    area_target: float = 0.08
    area_schedule: float = 0.6
    area_hinge: float = 20.0
    area_min: float = 0.0  # > 0: each image's area is drawn per step, log-uniform in [area_min, scheduled]
    area_control: bool = True  # the schedule sets the area by a quantile shift of the generator's scores
    temperature: float = 0.5  # softness of the area-controlled mask, in standard deviations of the scores,
    temperature_end: float = 0.05  # annealed geometrically to this, so the soft mask ends near binary
    straight_through_from: float = 0.75  # fraction of steps after which the mask is binarised (STE)
    background_kinds: tuple[str, ...] = BACKGROUND_KINDS
    robust_samples: int = 1  # random backgrounds per image per step for the robustness term
    # choosing the binary mask: the smallest area on this ladder that keeps the label on the baseline
    # background and on `check_backgrounds` random backgrounds (at least `check_pass` of them)
    area_ladder: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
    area_floor: float = 0.0
    selection: str = "bisect"  # "scan": ascending, first level that holds; "bisect": binary search of the ladder
    scan_chunk: int = 8  # levels probed per classifier call in a scan
    check_backgrounds: int = 4
    check_pass: int = 4
    # reporting
    robustness_samples: int = 16
    auc_steps: int = 16
    blur_sigma: float = 10.0

    def with_(self, **changes) -> ExplainConfig:
        return replace(self, **changes)

    @property
    def draw_seed(self) -> int:
        """The seed of the explanation's random draws: `seed` with `per_seed`, else CANONICAL_SEED."""
        return self.seed if self.per_seed else CANONICAL_SEED


FINE_LADDER = (0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15,
               0.2, 0.3, 0.5, 0.75, 1.0)

# the scan's ladder: amx-bench's minimal-sufficient-area ladder up to 20% (0.5% steps to 10%, then 1%), coarser above
SCAN_LADDER = tuple([round(0.005 * k, 4) for k in range(1, 21)] + [round(0.01 * k, 4) for k in range(11, 21)]
                    + [0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0])

# the minimal-sufficient presets' ladder: 0.5% steps to 10%, 2% to 20%, then 25, 30, 40, 50, 75, 100%. 30 levels
# below the top, so two ascending scans (generator, then occlusion below the generator's level) cost at most 59
# passes and the default stays within 200 classifier passes per image
MINIMAL_LADDER = tuple([round(0.005 * k, 4) for k in range(1, 21)] + [0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.4,
                                                                     0.5, 0.75, 1.0])

# the minimal-sufficient regime (issue 14): the smallest mask on MINIMAL_LADDER whose explanation keeps the label
# on the neutral baseline, found by an ascending scan; random backgrounds stay in the objective (the
# robustness term) and in the report, not in the selection; the generator's output layer starts at zero
MINIMAL = {"check_backgrounds": 0, "selection": "scan", "area_ladder": MINIMAL_LADDER, "zero_out": True,
           # three verified candidates (generator, occlusion, class-activation map) and, as the budget allows, their
           # blends by 2 and all 3; the smallest mask wins, within 200 passes: 34 steps (68 passes) leave the
           # candidates' scans room, 4 levels per classifier call
           "steps": 34, "cam_candidate": True, "blends": 2, "max_passes": 200, "scan_chunk": 4,
           # the amortised mode's third ranking (the per-image explainer does not read it)
           "gradcam_candidate": True}

PRESETS: dict[str, ExplainConfig] = {
    # the smallest part that alone keeps the label on the baseline (paper Fig. 3 top): the default's objective,
    # the generator trained from 4 starts (different starts find different sufficient parts; the smallest
    # verified one wins), then blends of the six rankings by 2 and 3 and all six (the pixels they agree
    # on), within 1000 passes. Measured on the tuning split: heavier area and TV weights, a 3% area target and
    # a 28x28 grid gave larger masks than this (docs/method.md)
    "compact": ExplainConfig(**(MINIMAL | {"restarts": 4, "blends": 3, "max_passes": 1000})),
    # the default: the smallest mask that keeps the label on the baseline (minimal sufficient)
    "default": ExplainConfig(**MINIMAL),
    # the default's objective with the former default's gate: the smallest mask on the coarse ladder that keeps
    # the label on the baseline and on 4 random backgrounds (binary search); larger masks (~30-50%)
    "robust": ExplainConfig(),
    # relaxed minimality: more of the object and some context (Fig. 2, third triplet)
    "relaxed": ExplainConfig(area=0.5, tv=0.3, area_target=0.15, area_floor=0.1),
    # the whole object (Fig. 2, fourth triplet)
    "object": ExplainConfig(area=0.2, tv=0.2, area_target=0.35, area_floor=0.25),
}


def get_preset(name: str) -> ExplainConfig:
    if name not in PRESETS:
        raise AmxError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def for_taps(config: ExplainConfig, n_taps: int) -> ExplainConfig:
    """`config` with one layer weight per tap of a model with `n_taps` taps: the weights are read off
    linearly at evenly spaced positions from the first to the last (equal weights stay equal; the first
    and last tap keep theirs). The presets are written for five taps; a shallower model gets fewer."""
    w = config.layer_weights
    if n_taps < 1:
        raise AmxError("a model needs at least one tapped layer")
    if len(w) == n_taps:
        return config
    if len(w) == 1 or n_taps == 1:
        return replace(config, layer_weights=(w[-1],) * n_taps)
    out = []
    for i in range(n_taps):
        x = i * (len(w) - 1) / (n_taps - 1)
        lo = min(int(x), len(w) - 2)
        out.append(round(w[lo] + (w[lo + 1] - w[lo]) * (x - lo), 9))
    return replace(config, layer_weights=tuple(out))


__all__ = ["BACKGROUND_KINDS", "CANONICAL_SEED", "ExplainConfig", "MINIMAL", "MINIMAL_LADDER", "PRESETS",
           "get_preset", "for_taps"]
