"""The activation-matching explainer: a per-image U-Net learns a binary mask m so that e = m*x keeps
the classifier's prediction and intermediate activations (paper §3), then the smallest binary mask
on an area ladder that keeps the label, also over random backgrounds, is chosen and evaluated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import losses
from .backgrounds import background_batch
from .config import ExplainConfig, get_preset
from .hooks import capture, frozen
from .masker import MaskUNet
from .metrics import connected_regions, deletion_insertion_auc, robustness_rate, top_mask
from .models import Classifier, apply_mask

Progress = Callable[[int, int], None]  # (step done, steps in all)


@dataclass
class Explanation:
    """One image's result. `mask` is binary [1,H,W]; `explanation` is what the classifier saw:
    the kept pixels, and the classifier's baseline colour (zero after normalisation) elsewhere."""

    target: int
    pixels: torch.Tensor
    mask: torch.Tensor
    rank_map: torch.Tensor  # the generator's logits upsampled: a saliency ranking of pixels
    baseline: torch.Tensor  # [3,1,1]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> torch.Tensor:
        return apply_mask(self.pixels, self.mask, self.baseline)



def explain(
    classifier: Classifier,
    pixels: torch.Tensor,
    *,
    targets: list[int] | None = None,
    config: ExplainConfig | str = "default",
    report: bool = True,
    progress: Progress | None = None,
    trace: list[dict[str, float]] | None = None,
) -> list[Explanation]:
    """Explain a batch of images [B,3,H,W] in [0,1] (on the classifier's device).

    `targets` defaults to each image's top-1 class. `report` adds robustness over random backgrounds,
    deletion/insertion AUC and the per-region check (extra classifier passes, counted apart).
    `trace`, when given, receives one dict of batch-mean loss terms per step (for tuning and benchmarks).
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    if len(cfg.layer_weights) != len(classifier.spec.taps):
        raise ValueError(f"config has {len(cfg.layer_weights)} layer weights, model taps {len(classifier.spec.taps)}")
    start = time.perf_counter()
    with frozen(classifier), capture(classifier.net, classifier.spec.taps) as acts:
        result = _optimise_and_select(classifier, pixels, acts, targets, cfg, progress, trace)
        seconds = time.perf_counter() - start
        for ex in result:
            ex.metrics["seconds"] = seconds / len(result)
            if report:
                _report(classifier, ex, cfg)
    return result


def _optimise_and_select(classifier, pixels, acts, targets, cfg: ExplainConfig, progress, trace):
    b, _, h, w = pixels.shape
    device = pixels.device
    taps = classifier.spec.taps
    base = classifier.baseline
    with torch.no_grad():
        logits_x = classifier(pixels)
        ref = {t: acts[t].detach().clone() for t in taps}
    passes = 1
    target = torch.tensor(targets, device=device) if targets is not None else logits_x.argmax(1)

    gen = MaskUNet.seeded(b, width=cfg.width, resolution=cfg.mask_resolution, seed=cfg.seed,
                          free_grid=cfg.free_grid).to(device)
    grid = [p for n, p in gen.named_parameters() if n == "grid"]
    if cfg.prior != "none":
        if not grid:
            raise ValueError(f"prior={cfg.prior!r} initialises the free grid: set free_grid=True")
        start_grid = _prior(classifier, pixels, target, ref, cfg)
        if start_grid is not None:  # None: no class map for this architecture, the grid starts flat
            with torch.no_grad():
                grid[0].copy_(start_grid)
        passes += cfg.prior_grid**2 + 1 if cfg.prior == "occlusion" else 0  # the CAM reads the reference pass
    net_params = [p for n, p in gen.named_parameters() if n != "grid"]
    opt = torch.optim.Adam(net_params, lr=cfg.unet_lr if cfg.unet_lr is not None else cfg.lr)
    # the free grid: SGD with momentum on the per-image RMS-normalised gradient. Adam's first steps are
    # lr * sign(g) for every cell, which leaves the grid in large ties that the quantile shift cannot rank
    grid_opt = torch.optim.SGD(grid, lr=cfg.lr, momentum=0.9) if grid else None
    rngs = [torch.Generator().manual_seed(cfg.seed + 1) for _ in range(b)]
    kinds = cfg.background_kinds
    st_step = int(cfg.straight_through_from * cfg.steps)
    sampler = [torch.Generator().manual_seed(cfg.seed + 2) for _ in range(b)]  # per image: batch-independent

    for step in range(cfg.steps):
        goals = _area_goals(step, b, cfg, sampler).to(device)
        tau = cfg.temperature * (cfg.temperature_end / cfg.temperature) ** (step / max(1, cfg.steps - 1))
        soft = torch.sigmoid(_mask_logits(gen(pixels), goals, tau, cfg, (h, w)))
        m = soft
        if step >= st_step:
            m = (soft > 0.5).to(soft) + soft - soft.detach()  # straight-through binarisation
        nr = cfg.robust_samples
        bg = background_batch([kinds[(step * nr + j) % len(kinds)] for j in range(nr) for _ in range(b)],
                              pixels.cpu().repeat(nr, 1, 1, 1), rngs * nr, blur_sigma=cfg.blur_sigma).to(device)
        terms = objective_terms(classifier, acts, pixels, m, soft, goals, bg, ref, logits_x, target, cfg)
        passes += 1 + nr
        per_image = torch.stack(list(terms.values())).sum(0)
        if trace is not None:
            trace.append({k: float(v.detach().mean()) for k, v in terms.items()} | {"soft_area": float(soft.mean())})
        opt.zero_grad(set_to_none=True)
        if grid_opt:
            grid_opt.zero_grad(set_to_none=True)
        per_image.sum().backward()  # a sum: each image's generator gets its own loss's gradient
        opt.step()
        if grid_opt and grid[0].grad is not None:
            g = grid[0].grad
            g /= g.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1) + 1e-12
            grid_opt.step()
        if progress:
            progress(step + 1, cfg.steps)

    with torch.no_grad():
        rank = _mask_logits(gen(pixels), torch.full((b,), cfg.area_target, device=device), cfg.temperature_end, cfg,
                            (h, w))
        masks, select_passes = _select_masks(classifier, pixels, rank, target, cfg)
        source = ["generator"] * b
        if cfg.occlusion_candidate:
            # a second candidate ranking from coarse occlusion; the smaller verified binary mask wins
            occ = F.interpolate(_occlusion_prior(classifier, pixels, target, cfg), size=(h, w), mode="bilinear",
                                align_corners=False)
            occ_masks, occ_passes = _select_masks(classifier, pixels, occ, target, cfg)
            select_passes += occ_passes + cfg.prior_grid**2 + 1
            for i in range(b):  # the ranking stays the generator's (amx-bench ranks by it, issue 6)
                if float(occ_masks[i].mean()) < float(masks[i].mean()):
                    masks[i], source[i] = occ_masks[i], "occlusion"
        logits_e = classifier(apply_mask(pixels, masks, base))
    passes += select_passes + 1
    return explanation_records(pixels, target, masks, rank, logits_x, logits_e, base[0], [
        {"steps": cfg.steps, "classifier_passes": passes, "mask_source": source[i]} for i in range(b)
    ])


def explanation_records(pixels, target, masks, rank, logits_x, logits_e, baseline, own: list[dict]) -> list[Explanation]:
    """One Explanation per image with the metrics every explainer reports (predictions and confidences on
    x and on e, label kept, area), plus each image's own entries in `own` (steps, passes, mask source)."""
    probs_x = torch.softmax(logits_x, 1)
    probs_e = torch.softmax(logits_e, 1)
    out = []
    for i, extra in enumerate(own):
        t = int(target[i])
        out.append(Explanation(
            target=t, pixels=pixels[i].detach(), mask=masks[i], rank_map=rank[i], baseline=baseline,
            metrics={
                "target": t,
                "predicted_x": int(probs_x[i].argmax()),
                "predicted_e": int(probs_e[i].argmax()),
                "label_kept": bool(int(probs_e[i].argmax()) == t),
                "confidence_x": float(probs_x[i, t]),
                "top1_confidence_x": float(probs_x[i].max()),
                "confidence_e": float(probs_e[i, t]),
                "mask_area": float(masks[i].mean()),
            } | extra,
        ))
    return out


def objective_terms(classifier: Classifier, acts: dict, pixels: torch.Tensor, mask: torch.Tensor, soft: torch.Tensor,
                    goals: torch.Tensor, backgrounds: torch.Tensor, ref: dict, logits_x: torch.Tensor,
                    target: torch.Tensor, cfg: ExplainConfig) -> dict[str, torch.Tensor]:
    """The paper's objective, one weighted term per image ([B] each), from one classifier call on the
    explanation e = m*x and on m*x + (1-m)*r for the given random backgrounds r ([nr*B,3,H,W]).

    `mask` is what the classifier sees (soft or straight-through binary); the priors act on `soft`.
    Shared by the per-image explainer and the amortised generator, so both optimise the same loss.
    """
    b = pixels.shape[0]
    nr = backgrounds.shape[0] // b
    taps = classifier.spec.taps
    e = apply_mask(pixels, mask, classifier.baseline)
    e_rob = pixels.repeat(nr, 1, 1, 1) * mask.repeat(nr, 1, 1, 1) + (1 - mask.repeat(nr, 1, 1, 1)) * backgrounds
    logits = classifier(torch.cat([e, e_rob]))
    logits_e, logits_r = logits[:b], logits[b:]
    alpha = torch.tensor(cfg.layer_weights, device=pixels.device)
    act_terms = torch.stack(
        [losses.activation_distance(ref[t], acts[t][:b], cfg.activation_distance) for t in taps], 1
    )
    return {
        "activation": cfg.activation * (act_terms * alpha).sum(1) / alpha.sum(),
        "kl": cfg.kl * losses.kl_outputs(logits_x, logits_e),
        "ce": cfg.ce * losses.cross_entropy(logits_e, target),
        "area": cfg.area * losses.area(soft),
        "area_hinge": cfg.area_hinge * losses.area_hinge(soft, goals),
        "binarization": cfg.binarization * losses.binarization(soft),
        "tv": cfg.tv * losses.total_variation(soft),
        "robustness": cfg.robustness * losses.cross_entropy(logits_r, target.repeat(nr)).view(nr, b).mean(0),
    }


def class_activation_map(classifier: Classifier, feats: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """CAM of `target` from the last tapped layer's features of a pass already made: the head's weights
    for the class times each position's features, standardised per image ([B,1,h,w]); None when the last
    tap is not the head's input (no spatial map to read)."""
    head = classifier.module(classifier.spec.head)
    if not isinstance(head, nn.Linear) or feats.dim() != 4 or feats.shape[1] != head.in_features:
        return None
    return _standardised(torch.einsum("bchw,bc->bhw", feats, head.weight[target])[:, None]).detach()


def _standardised(maps: torch.Tensor) -> torch.Tensor:
    """Each image's map [B,1,h,w] shifted and scaled to mean 0, standard deviation 1 (a ranking's scale)."""
    flat = maps.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)).view_as(maps)


def _prior(classifier, pixels, target, ref, cfg: ExplainConfig) -> torch.Tensor | None:
    """The free grid's starting ranking, standardised per image at the generator's resolution; None for
    "cam" on an architecture whose last tap is not the linear head's spatial input (VGG, MobileNetV3)."""
    if cfg.prior == "occlusion":
        return _occlusion_prior(classifier, pixels, target, cfg)
    if cfg.prior == "cam":
        cam = class_activation_map(classifier, ref[classifier.spec.taps[-1]], target)
        if cam is None:
            return None
        return _standardised(F.interpolate(cam, size=(cfg.mask_resolution,) * 2, mode="bilinear",
                                           align_corners=False))
    raise ValueError(f"unknown prior {cfg.prior!r}: none, occlusion or cam")


def _occlusion_prior(classifier, pixels, target, cfg: ExplainConfig) -> torch.Tensor:
    """Necessity of each cell of a coarse `prior_grid` x `prior_grid` grid: the drop of the target's
    log-probability when that cell alone is set to the baseline (forward passes only, one per cell).
    Returned standardised per image at the generator's resolution, to start the free grid from a
    ranking that already means something (a gradient step from a flat start replaces the ranking
    with the first gradient's sign pattern, which measured far worse)."""
    b, _, h, w = pixels.shape
    g = cfg.prior_grid
    cells = torch.eye(g * g, device=pixels.device).view(g * g, 1, g, g)
    holes = 1 - F.interpolate(cells, size=(h, w), mode="nearest")
    base = classifier.baseline
    out = []
    for i in range(b):
        lp0 = torch.log_softmax(classifier(pixels[i : i + 1]), 1)[0, target[i]]
        lp = torch.cat([
            torch.log_softmax(classifier(apply_mask(pixels[i : i + 1], holes[j : j + 16], base)), 1)[:, target[i]]
            for j in range(0, g * g, 16)
        ])
        out.append((lp0 - lp).view(1, 1, g, g))
    return _standardised(F.interpolate(torch.cat(out), size=(cfg.mask_resolution,) * 2, mode="bilinear",
                                       align_corners=False))


def _area_goals(step: int, b: int, cfg: ExplainConfig, gens: list[torch.Generator]) -> torch.Tensor:
    """The kept-area fraction each image's mask is set to at this step ([B]).

    The upper end shrinks from `area_start` to `area_target` over the first `area_schedule` of the steps.
    With `area_min` > 0 each image draws its area log-uniformly between `area_min` and that upper end,
    so the generator's ranking is trained to be good at every area of the selection ladder (nested masks),
    not just at one.
    """
    frac = min(1.0, step / max(1, cfg.area_schedule * cfg.steps))
    hi = cfg.area_start + (cfg.area_target - cfg.area_start) * frac
    if cfg.area_min <= 0 or cfg.area_min >= hi:
        return torch.full((b,), hi)
    u = torch.cat([torch.rand(1, generator=g) for g in gens])
    lo = torch.tensor(cfg.area_min).log()
    return (lo + u * (torch.tensor(hi).log() - lo)).exp()


def _mask_logits(z: torch.Tensor, goals: torch.Tensor, tau: float, cfg: ExplainConfig, size) -> torch.Tensor:
    """Generator output -> mask logits at the input size.

    With `area_control`, each image's scores are standardised and shifted so that the pixels above the
    (1 - goal) quantile are on: the generator learns *which* pixels to keep while the schedule sets
    *how many*. This removes the all-on/all-off bistability of a free sigmoid mask (DESIGN §3).
    """
    if cfg.area_control:
        flat = z.flatten(1)
        mean, std = flat.mean(1, keepdim=True), flat.std(1, keepdim=True) + 1e-6
        if cfg.detach_threshold:  # the shift is set by the schedule, not learned through
            mean, std = mean.detach(), std.detach()
        flat = (flat - mean) / std
        srt = (flat.detach() if cfg.detach_threshold else flat).sort(1).values
        pos = ((1 - goals.clamp(0, 1)) * (flat.shape[1] - 1)).clamp(0, flat.shape[1] - 1)
        low = pos.floor().long()
        high = pos.ceil().long()
        wgt = (pos - low).unsqueeze(1)
        thr = srt.gather(1, low[:, None]) * (1 - wgt) + srt.gather(1, high[:, None]) * wgt  # torch.quantile, per image
        z = ((flat - thr) / tau).view_as(z)
    return F.interpolate(z, size=size, mode="bilinear", align_corners=False)


def _select_masks(classifier, pixels, rank, target, cfg: ExplainConfig):
    """Per image, binary-search the area ladder for the smallest mask that keeps the label on black
    and on `check_backgrounds` random backgrounds. Returns masks [B,1,H,W] and passes per image."""
    ladder = [a for a in cfg.area_ladder if a >= cfg.area_floor] or [1.0]
    b = pixels.shape[0]
    lo = [0] * b
    hi = [len(ladder) - 1] * b  # the last level is accepted if nothing smaller passes
    k = cfg.check_backgrounds
    kinds = cfg.background_kinds
    passes = 0
    while any(low < high for low, high in zip(lo, hi, strict=True)):
        active = [i for i in range(b) if lo[i] < hi[i]]
        mids = {i: (lo[i] + hi[i]) // 2 for i in active}
        cands = torch.stack([top_mask(rank[i], ladder[mids[i]]) for i in active])
        imgs = pixels[active]
        batch = [apply_mask(imgs, cands, classifier.baseline)]
        for j in range(k):
            gens = [torch.Generator().manual_seed(cfg.seed + 1000 + j) for _ in active]
            bg = background_batch([kinds[j % len(kinds)]] * len(active), imgs.cpu(), gens,
                                  blur_sigma=cfg.blur_sigma).to(pixels.device)
            batch.append(imgs * cands + bg * (1 - cands))
        pred = classifier(torch.cat(batch)).argmax(1).view(1 + k, len(active))
        passes += 1 + k
        tgt = target[active]
        ok_black = pred[0] == tgt
        ok_bg = (pred[1:] == tgt).sum(0) >= min(cfg.check_pass, k)
        for n, i in enumerate(active):
            if bool(ok_black[n]) and bool(ok_bg[n]):
                hi[i] = mids[i]
            else:
                lo[i] = mids[i] + 1
    masks = torch.stack([top_mask(rank[i], ladder[lo[i]]) for i in range(b)])
    return masks, passes


def _report(classifier: Classifier, ex: Explanation, cfg: ExplainConfig) -> None:
    """Robustness, deletion/insertion AUC and which connected regions alone keep the label."""
    with torch.no_grad():
        ex.metrics["robustness"] = robustness_rate(
            classifier, ex.pixels, ex.mask, ex.target, samples=cfg.robustness_samples,
            kinds=cfg.background_kinds, seed=cfg.seed + 7919, blur_sigma=cfg.blur_sigma,
        )
        ex.metrics["deletion_auc"], ex.metrics["insertion_auc"] = deletion_insertion_auc(
            classifier, ex.pixels, ex.rank_map, ex.target, steps=cfg.auc_steps, blur_sigma=cfg.blur_sigma,
            baseline=ex.baseline,
        )
        regions = connected_regions(ex.mask, min_pixels=max(16, int(0.002 * ex.mask.numel())))[:8]
        region_rows = []
        if regions:
            logits = classifier(torch.stack([apply_mask(ex.pixels, r, ex.baseline) for r in regions]))
            probs = torch.softmax(logits, 1)
            for r, p in zip(regions, probs, strict=True):
                region_rows.append({
                    "area": float(r.mean()),
                    "keeps_label": bool(int(p.argmax()) == ex.target),
                    "confidence": float(p[ex.target]),
                })
        ex.metrics["regions"] = region_rows
        ex.metrics["report_passes"] = cfg.robustness_samples + 2 * (cfg.auc_steps + 1) + len(regions)
