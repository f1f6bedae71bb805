"""Explainer hyper-parameters: one frozen dataclass, named presets for the paper's regimes (Fig. 2, 3)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import AmxError

BACKGROUND_KINDS = ("noise", "flat", "blur", "shuffle")


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
    # (prior_grid^2 + 1 forward passes plus one more ladder search, counted in classifier_passes)
    occlusion_candidate: bool = True
    seed: int = 0
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


FINE_LADDER = (0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15,
               0.2, 0.3, 0.5, 0.75, 1.0)

# the scan's ladder: amx-bench's minimal-sufficient-area ladder up to 20% (0.5% steps to 10%, then 1%), coarser above
SCAN_LADDER = tuple([round(0.005 * k, 4) for k in range(1, 21)] + [round(0.01 * k, 4) for k in range(11, 21)]
                    + [0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0])

PRESETS: dict[str, ExplainConfig] = {
    # heavy area and TV: a very compact mask on the most discriminative part (paper Fig. 3 top, ~2%): the
    # smallest part that alone keeps the label on the baseline, so the selection checks no random background;
    # a finer generator grid and area ladder, since the areas sought are a few percent
    "compact": ExplainConfig(area=2.0, tv=1.0, area_target=0.03, area_floor=0.0, mask_resolution=28,
                             check_backgrounds=0, area_ladder=FINE_LADDER),
    # the default: small masks that keep the label and survive random backgrounds
    "default": ExplainConfig(),
    # relaxed minimality: more of the object and some context (Fig. 2, third triplet)
    "relaxed": ExplainConfig(area=0.5, tv=0.3, area_target=0.15, area_floor=0.1),
    # the whole object (Fig. 2, fourth triplet)
    "object": ExplainConfig(area=0.2, tv=0.2, area_target=0.35, area_floor=0.25),
}


def get_preset(name: str) -> ExplainConfig:
    if name not in PRESETS:
        raise AmxError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


__all__ = ["BACKGROUND_KINDS", "ExplainConfig", "PRESETS", "get_preset"]
