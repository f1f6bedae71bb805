"""From a generator's scores to the reported binary mask, shared by the per-image explainer and the
amortised one: the area-controlled mask logits (the schedule sets how many pixels are on, the generator
which ones), the ladder search for the smallest binary mask that keeps the label on the baseline and on
random backgrounds, and the report on the chosen mask."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..backgrounds import background_batch
from ..config import ExplainConfig
from ..metrics import connected_regions, deletion_insertion_auc, ranking, robustness_rate, top_mask
from ..models import Classifier, apply_mask
from .explanation import Explanation, evidence_kept, meets_criterion


def area_goals(step: int, b: int, cfg: ExplainConfig, gens: list[torch.Generator]) -> torch.Tensor:
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


def mask_logits(z: torch.Tensor, goals: torch.Tensor, tau: float, cfg: ExplainConfig, size) -> torch.Tensor:
    """Generator output -> mask logits at the input size.

    With `area_control`, each image's scores are standardised and shifted so that the pixels above the
    (1 - goal) quantile are on: the generator learns *which* pixels to keep while the schedule sets
    *how many*. This removes the all-on/all-off bistability of a free sigmoid mask, whose area otherwise
    settles at one extreme or the other.
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


def _ladder(cfg: ExplainConfig) -> list[float]:
    """The areas the selection may choose, smallest first; the last is accepted when nothing smaller holds."""
    return [a for a in cfg.area_ladder if a >= cfg.area_floor] or [1.0]


def _levels_below(levels: list[float], area: float) -> list[float]:
    """The levels a challenger probes: those smaller than the best mask so far (`area`), which it must beat."""
    return [a for a in levels if a < area - 1e-4]


def _kept(logits: torch.Tensor, tgt: torch.Tensor, logits_x: torch.Tensor | None) -> torch.Tensor:
    """The acceptance criterion per row: `evidence_kept` against the original's logits (top-1 kept where the
    target is the original's top-1); without `logits_x`, top-1 equals the target."""
    return logits.argmax(1) == tgt if logits_x is None else evidence_kept(logits, tgt, logits_x)


def _accepted(classifier: Classifier, imgs: torch.Tensor, cands: torch.Tensor, tgt: torch.Tensor,
              cfg: ExplainConfig, logits_x: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Which candidate masks [N,1,H,W] (of images `imgs`, one each) keep the evidence for `tgt` (`_kept`,
    against the originals' logits `logits_x` [N,C]) on the baseline and on `check_backgrounds` seeded random
    backgrounds (at least `check_pass` of them): one classifier call."""
    k, kinds = cfg.check_backgrounds, cfg.background_kinds
    n = imgs.shape[0]
    batch = [apply_mask(imgs, cands, classifier.baseline)]
    for j in range(k):
        gens = [torch.Generator().manual_seed(cfg.draw_seed + 1000 + j) for _ in range(n)]
        bg = background_batch([kinds[j % len(kinds)]] * n, imgs.cpu(), gens, blur_sigma=cfg.blur_sigma).to(imgs.device)
        batch.append(imgs * cands + bg * (1 - cands))
    logits = classifier(torch.cat(batch))
    good = _kept(logits, tgt.repeat(1 + k), None if logits_x is None else logits_x.repeat(1 + k, 1)).view(1 + k, n)
    ok = good[0] & (good[1:].sum(0) >= min(cfg.check_pass, k))
    return ok, n * (1 + k)


def select_masks(classifier: Classifier, pixels: torch.Tensor, rank: torch.Tensor, target: torch.Tensor,
                 cfg: ExplainConfig, below: list[float] | None = None,
                 logits_x: torch.Tensor | None = None, budget: int | None = None) -> tuple[torch.Tensor, int]:
    """Per image, the smallest mask of the ranking `rank` on the area ladder that keeps the label on the
    baseline and on `check_backgrounds` random backgrounds (at least `check_pass` of them). Returns masks
    [B,1,H,W] and the classifier passes per image.

    `selection="scan"` tries the levels in ascending order, `scan_chunk` at a time, and takes the first
    that holds (no assumption that a larger mask keeps the label when a smaller one does: the rule of
    amx-bench's minimal sufficient area); `selection="bisect"` binary-searches the ladder (fewer probes,
    but on a ranking whose label flickers along the ladder it can stop well above the smallest level
    that holds), all images' probes in one batch.

    `below` (scan only), one area per image: probe only the levels under it (a second candidate that can
    win only by being smaller); an image with no such level that holds gets the ladder's top level.
    `logits_x` [B,C], the originals' logits, make the test `evidence_kept` (needed for a target that is
    not the original's top-1); without them a mask must make the target the top-1. `budget` (scan only):
    at most this many classifier passes per image, spent on the smallest levels first."""
    if cfg.selection == "scan":
        return _scan(classifier, pixels, rank, target, cfg, below, logits_x, budget)
    if cfg.selection != "bisect":
        raise ValueError(f"unknown selection {cfg.selection!r}: scan or bisect")
    ladder = _ladder(cfg)
    b = pixels.shape[0]
    lo = [0] * b
    hi = [len(ladder) - 1] * b  # the last level is accepted if nothing smaller passes
    k = cfg.check_backgrounds
    passes = 0
    while any(low < high for low, high in zip(lo, hi, strict=True)):
        active = [i for i in range(b) if lo[i] < hi[i]]
        mids = {i: (lo[i] + hi[i]) // 2 for i in active}
        cands = torch.stack([top_mask(rank[i], ladder[mids[i]]) for i in active])
        ok, _ = _accepted(classifier, pixels[active], cands, target[active], cfg,
                          None if logits_x is None else logits_x[active])
        passes += 1 + k
        for n, i in enumerate(active):
            if bool(ok[n]):
                hi[i] = mids[i]
            else:
                lo[i] = mids[i] + 1
    masks = torch.stack([top_mask(rank[i], ladder[lo[i]]) for i in range(b)])
    return masks, passes


def _scan(classifier: Classifier, pixels: torch.Tensor, rank: torch.Tensor, target: torch.Tensor,
          cfg: ExplainConfig, below: list[float] | None = None,
          logits_x: torch.Tensor | None = None, budget: int | None = None) -> tuple[torch.Tensor, int]:
    """`select_masks` by an ascending scan, one image at a time (its probes in chunks of `scan_chunk`
    levels, so an image's verdicts never depend on another image); the top level is accepted unprobed.
    Masks keep the top pixels in the stable order of `metrics.ranking` (ties: lower index first), so a
    mask is exactly amx-bench's minimal sufficient mask of `rank` when the ladders agree."""
    ladder = _ladder(cfg)
    chunk = max(1, cfg.scan_chunk)
    masks, most = [], 0
    for i in range(pixels.shape[0]):
        order = ranking(rank[i])
        spent, chosen = 0, None
        probed = ladder[:-1] if below is None else _levels_below(ladder, below[i])
        if budget is not None:
            probed = probed[: max(0, budget // (1 + cfg.check_backgrounds))]
        for start in range(0, len(probed), chunk):
            levels = probed[start : start + chunk]
            cands = torch.stack([_top(order, rank[i], a) for a in levels])
            n = len(levels)
            ok, used = _accepted(classifier, pixels[i : i + 1].expand(n, -1, -1, -1), cands, target[i].expand(n), cfg,
                                 None if logits_x is None else logits_x[i : i + 1].expand(n, -1))
            spent += used
            hits = ok.nonzero()
            if hits.numel():
                chosen = cands[int(hits[0])]
                break
        masks.append(chosen if chosen is not None else _top(order, rank[i], ladder[-1]))
        most = max(most, spent)
    return torch.stack(masks), most


def _top(order: torch.Tensor, rank: torch.Tensor, fraction: float) -> torch.Tensor:
    """`top_mask(rank, fraction, stable=True)` from a precomputed `ranking(rank)`."""
    h, w = rank.shape[-2:]
    k = max(1, min(order.numel(), round(fraction * order.numel())))
    mask = torch.zeros(order.numel(), device=rank.device)
    mask[order[:k]] = 1.0
    return mask.view(1, h, w)


def select_sequential(classifier: Classifier, pixels: torch.Tensor, rank: torch.Tensor, target: torch.Tensor,
                      cfg: ExplainConfig, logits_x: torch.Tensor | None = None, below: list[float] | None = None,
                      gallop: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
    """`select_masks` itself, probe for probe (the same bisection of the ladder, the same acceptance test),
    but each probe shows the classifier one image at a time and stops as soon as the verdict is known: a
    probe that loses the label on the baseline costs one pass, not 1 + `check_backgrounds`. So it
    chooses the same level with fewer passes. Per image: masks, the baseline logits of the chosen mask
    (no extra pass when it was probed) and the passes spent.

    `below`, one area per image (a challenger that can win only by being smaller): bisect only the levels
    under it; where none holds the image's mask is the ladder's top level, unread (logits None: the
    caller keeps what it had).

    `gallop`: first climb from the smallest level in doubling strides (levels 0, 2, 6, 14, ...) until one
    holds, then bisect the levels between the last that failed and it. Where the label flickers along the
    ladder (a small mask keeps it, a larger one with more background loses it), a bisection that starts
    mid-ladder steps over the small level; the climb reaches it first, for a few more passes."""
    full = _ladder(cfg)
    masks, logits_out, passes = [], [], []
    for i in range(pixels.shape[0]):
        ladder = full if below is None else _levels_below(full[:-1], below[i]) + [full[-1]]
        mask, logits, spent = _sequential_one(classifier, pixels[i : i + 1], rank[i], target[i : i + 1],
                                              None if logits_x is None else logits_x[i : i + 1], ladder, cfg,
                                              gallop=gallop, read_top=below is None)
        masks.append(mask)
        logits_out.append(logits)
        passes.append(spent)
    unread = any(lg is None for lg in logits_out)
    return torch.stack(masks), None if unread else torch.cat(logits_out), passes


def _sequential_one(classifier: Classifier, img: torch.Tensor, rank: torch.Tensor, t: torch.Tensor,
                    ref: torch.Tensor | None, ladder: list[float], cfg: ExplainConfig, *, gallop: bool,
                    read_top: bool) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """One image's search of `ladder` for `select_sequential`: its mask, the baseline logits of that mask
    (None when it is the top level and `read_top` is false) and the passes spent."""
    base = classifier.baseline
    k, kinds = cfg.check_backgrounds, cfg.background_kinds
    need = min(cfg.check_pass, k)
    top = len(ladder) - 1
    black: dict[int, torch.Tensor] = {}
    spent = 0

    def holds(level: int) -> bool:
        nonlocal spent
        cand = top_mask(rank, ladder[level])[None]
        black[level] = classifier(apply_mask(img, cand, base))
        spent += 1
        if not bool(_kept(black[level], t, ref)[0]):
            return False
        ok = bad = 0
        for j in range(k):
            if ok >= need or bad > k - need:
                break
            bg = background_batch([kinds[j % len(kinds)]], img.cpu(),
                                  [torch.Generator().manual_seed(cfg.draw_seed + 1000 + j)],
                                  blur_sigma=cfg.blur_sigma).to(img.device)
            kept = bool(_kept(classifier(img * cand + bg * (1 - cand)), t, ref)[0])
            spent += 1
            ok, bad = ok + kept, bad + (not kept)
        return ok >= need

    lo = search_ladder(top, holds, gallop=gallop)
    mask = top_mask(rank, ladder[lo])
    if lo not in black and (read_top or lo != top):
        black[lo] = classifier(apply_mask(img, mask[None], base))
        spent += 1
    return mask, black.get(lo), spent


def search_ladder(top: int, holds: Callable[[int], bool], *, gallop: bool = False) -> int:
    """The ladder search of `select_sequential` on levels 0..`top`, given `holds(level)` (a probe): the
    bisection, the top level accepted unprobed if nothing smaller holds; with `gallop`, first the climb
    from level 0 in doubling strides (0, 2, 6, 14, ...) until a level holds, then the bisection below it.
    Returns the chosen level. (bench/amortised_search.py replays it on recorded verdicts.)"""
    lo, hi = 0, top
    if gallop:
        level, stride = 0, 1
        while level < top:
            if holds(level):
                hi = level
                break
            lo = level + 1
            stride *= 2
            level += stride
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def add_report(classifier: Classifier, ex: Explanation, cfg: ExplainConfig) -> None:
    """Add to `ex.metrics`: robustness over random backgrounds, deletion/insertion AUC of the ranking and
    which connected regions of the mask alone keep the label (passes counted in `report_passes`). "Keep"
    is the explanation's criterion (`evidence_kept`: top-1, or for a target ranked lower on x, its rank and
    probability there)."""
    rank_x = ex.metrics.get("rank_x", 1)
    p_x = ex.metrics.get("confidence_x", 0.0)
    tgt = torch.tensor([ex.target], device=ex.pixels.device)

    def keeps(logits: torch.Tensor) -> torch.Tensor:
        return meets_criterion(logits, tgt.expand(logits.shape[0]), rank_x, p_x)

    with torch.no_grad():
        ex.metrics["robustness"] = robustness_rate(
            classifier, ex.pixels, ex.mask, ex.target, samples=cfg.robustness_samples,
            kinds=cfg.background_kinds, seed=cfg.draw_seed + 7919, blur_sigma=cfg.blur_sigma, kept=keeps,
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
            for r, p, ok in zip(regions, probs, keeps(logits), strict=True):
                region_rows.append({
                    "area": float(r.mean()),
                    "keeps_label": bool(ok),
                    "confidence": float(p[ex.target]),
                })
        ex.metrics["regions"] = region_rows
        ex.metrics["report_passes"] = cfg.robustness_samples + 2 * (cfg.auc_steps + 1) + len(regions)
