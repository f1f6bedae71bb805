"""The per-image activation-matching explainer: a U-Net per image learns a binary mask m so that
e = m*x keeps the classifier's prediction and intermediate activations (the paper's objective), then
the smallest binary mask on an area ladder that keeps the label (on the baseline; with the robust presets
also over random backgrounds) is chosen and reported. The generator's free grid starts from a ranking
that already means something: the class-activation map of the reference pass, or coarse occlusion.
Other rankings (occlusion, the class map, the generator from other starts, blends of these) challenge the
generator's within a budget of classifier passes; the smallest verified mask wins."""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from ..backgrounds import background_batch
from ..config import ExplainConfig, for_taps, get_preset
from ..hooks import capture, frozen
from ..metrics import ranking
from ..models import Classifier, apply_mask
from .explanation import Explanation, explanation_records
from .masker import MaskUNet
from .objective import objective_terms
from .selection import add_report, area_goals, mask_logits, select_masks

Progress = Callable[[int, int], None]  # (step done, steps in all)
RESTART_SEED_STEP = 7919  # the draw-seed offset between the generator's restarts


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
    `trace`, when given, receives one dict of loss terms per step, image after image (for tuning and
    benchmarks).

    Images are explained one at a time (batching buys little on a CPU and would couple them through
    rounding), so an image's mask, ranking and metrics do not depend on the other images of `pixels`.
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    cfg = for_taps(cfg, len(classifier.spec.taps))  # presets are written for 5 taps; any model has its own
    b = pixels.shape[0]
    if targets is not None and len(targets) != b:
        raise ValueError(f"{len(targets)} targets for {b} images")
    result = []
    with frozen(classifier), capture(classifier.net, classifier.spec.taps) as acts:
        # one image at a time, always: a batched classifier call rounds differently from a single one
        # (~1e-6 in the logits), and the optimisation and the ladder's label checks turn such rounding into
        # other masks. Alone, in a folder or at any batch size, an image meets exactly the same numbers.
        for i in range(b):
            start = time.perf_counter()
            step_progress = None if progress is None else (
                lambda done, total, i=i: progress(i * total + done, b * total))
            ex = _optimise_and_select(classifier, pixels[i : i + 1], acts,
                                      None if targets is None else [targets[i]], cfg, step_progress, trace)[0]
            ex.metrics["seconds"] = time.perf_counter() - start
            if report:
                add_report(classifier, ex, cfg)
            result.append(ex)
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
    train_cost = cfg.steps * (1 + cfg.robust_samples) + (cfg.prior_grid**2 if cfg.prior == "occlusion" else 0)

    def train(restart: int) -> torch.Tensor:
        def step_progress(done, total):
            if progress:
                progress(restart * total + done, cfg.restarts * total)
        return _train_generator(classifier, pixels, acts, ref, logits_x, target, cfg, restart, step_progress, trace)

    rank = train(0)
    passes += train_cost
    with torch.no_grad():
        left = None if cfg.max_passes <= 0 else cfg.max_passes - passes - 1  # the last pass reads e
        masks, select_passes = select_masks(classifier, pixels, rank, target, cfg, logits_x=logits_x, budget=left)
    source = ["generator"] * b
    ranks = list(rank)
    computed = {"generator": rank}
    for name, cost, make in _candidates(classifier, pixels, target, ref, logits_x, cfg, train, train_cost, computed):
        budget = None if left is None else left - select_passes - cost
        if budget is not None and budget <= 0:
            break
        challenger = make()
        computed[name] = challenger
        select_passes += cost
        with torch.no_grad():
            # a challenger: the smaller verified binary mask wins, and its ranking is reported (so the mask is
            # always the top of the explanation's ranking)
            cand_masks, cand_passes = select_masks(classifier, pixels, challenger, target, cfg,
                                                   below=[float(m.mean()) for m in masks], logits_x=logits_x,
                                                   budget=budget)
        select_passes += cand_passes
        for i in range(b):
            if float(cand_masks[i].mean()) < float(masks[i].mean()):
                masks[i], ranks[i], source[i] = cand_masks[i], challenger[i], name
    with torch.no_grad():
        rank = torch.stack(ranks)
        logits_e = classifier(apply_mask(pixels, masks, base))
    passes += select_passes + 1
    return explanation_records(pixels, target, masks, rank, logits_x, logits_e, base[0], [
        {"steps": cfg.steps, "classifier_passes": passes, "mask_source": source[i]} for i in range(b)
    ])


def _train_generator(classifier, pixels, acts, ref, logits_x, target, cfg: ExplainConfig, restart: int, progress,
                     trace) -> torch.Tensor:
    """Train one generator on the paper's objective and return its ranking at the input size ([B,1,H,W]).
    Restart r > 0 draws its backgrounds from the draw seed + r * RESTART_SEED_STEP, and its initial weights
    from that seed too, or from `init_seed` + r when one is set: another start, another sufficient part of
    the object."""
    b, _, h, w = pixels.shape
    device = pixels.device
    seed = cfg.draw_seed + restart * RESTART_SEED_STEP
    gen = MaskUNet.seeded(b, width=cfg.width, resolution=cfg.mask_resolution,
                          seed=(seed if cfg.init_seed is None else cfg.init_seed + restart), free_grid=cfg.free_grid,
                          zero_out=cfg.zero_out).to(device)
    grid = [p for n, p in gen.named_parameters() if n == "grid"]
    if cfg.prior != "none":
        if not grid:
            raise ValueError(f"prior={cfg.prior!r} initialises the free grid: set free_grid=True")
        start_grid = _prior(classifier, pixels, target, ref, logits_x, cfg)
        if start_grid is not None:  # None: no class map for this architecture, the grid starts flat
            with torch.no_grad():
                grid[0].copy_(start_grid)
    net_params = [p for n, p in gen.named_parameters() if n != "grid"]
    opt = torch.optim.Adam(net_params, lr=cfg.unet_lr if cfg.unet_lr is not None else cfg.lr)
    # the free grid: SGD with momentum on the per-image RMS-normalised gradient. Adam's first steps are
    # lr * sign(g) for every cell, which leaves the grid in large ties that the quantile shift cannot rank
    grid_opt = torch.optim.SGD(grid, lr=cfg.lr, momentum=0.9) if grid else None
    rngs = [torch.Generator().manual_seed(seed + 1) for _ in range(b)]
    kinds = cfg.background_kinds
    st_step = int(cfg.straight_through_from * cfg.steps)
    sampler = [torch.Generator().manual_seed(seed + 2) for _ in range(b)]  # per image: batch-independent

    for step in range(cfg.steps):
        goals = area_goals(step, b, cfg, sampler).to(device)
        tau = cfg.temperature * (cfg.temperature_end / cfg.temperature) ** (step / max(1, cfg.steps - 1))
        soft = torch.sigmoid(mask_logits(gen(pixels), goals, tau, cfg, (h, w)))
        m = soft
        if step >= st_step:
            m = (soft > 0.5).to(soft) + soft - soft.detach()  # straight-through binarisation
        nr = cfg.robust_samples
        bg = background_batch([kinds[(step * nr + j) % len(kinds)] for j in range(nr) for _ in range(b)],
                              pixels.cpu().repeat(nr, 1, 1, 1), rngs * nr, blur_sigma=cfg.blur_sigma).to(device)
        terms = objective_terms(classifier, acts, pixels, m, soft, goals, bg, ref, logits_x, target, cfg)
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
        return mask_logits(gen(pixels), torch.full((b,), cfg.area_target, device=device), cfg.temperature_end, cfg,
                           (h, w))


def _candidates(classifier, pixels, target, ref, logits_x, cfg: ExplainConfig, train, train_cost: int,
                computed: dict[str, torch.Tensor]):
    """The rankings that challenge the first generator's, in order, each as (name, its classifier passes, a
    function computing it at the input size): coarse occlusion (prior_grid^2 passes), the class-activation
    map (free: it reads the reference pass), then the generator's `restarts` - 1 other starts (a training
    each), then (`blends`) blends of the rankings computed so far (`computed`, by name; free).
    Each scans with the passes the budget has left."""
    if cfg.occlusion_candidate:
        yield "occlusion", cfg.prior_grid**2, lambda: at_input_size(
            occlusion_prior(classifier, pixels, target, cfg, logits_x), pixels)
    if cfg.cam_candidate:
        cam = class_activation_map(classifier, ref[classifier.spec.taps[-1]], target)
        if cam is not None:
            yield "cam", 0, lambda: at_input_size(cam, pixels)
    for r in range(1, cfg.restarts):
        yield f"generator-{r + 1}", train_cost, lambda r=r: train(r)
    if cfg.blends >= 2 and len(computed) > 1:
        names = list(computed)
        groups = [g for k in range(2, min(cfg.blends, len(names) - 1) + 1) for g in combinations(names, k)]
        groups.append(tuple(names))
        for group in groups:
            yield "blend:" + "+".join(group), 0, lambda group=group: blend([computed[n] for n in group])


def blend(rankings: list[torch.Tensor]) -> torch.Tensor:
    """Rankings [B,1,H,W] -> one ranking: each pixel's mean percentile (1 = top) over them, so pixels that
    several rankings place high come first, whatever each ranking's scale."""
    b = rankings[0].shape[0]
    n = rankings[0][0].numel()
    out = torch.zeros(b, n, device=rankings[0].device)
    steps = torch.linspace(1.0, 1.0 / n, n, device=out.device)
    for r in rankings:
        for i in range(b):
            out[i, ranking(r[i])] += steps
    return (out / len(rankings)).view_as(rankings[0])


def class_activation_map(classifier: Classifier, feats: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """CAM of `target` from the last tapped layer's features of a pass already made: the head's weights
    for the class times each position's features, standardised per image ([B,1,h,w]); None when the last
    tap is not the head's input (no spatial map to read)."""
    head = classifier.module(classifier.spec.head)
    if not isinstance(head, nn.Linear) or feats.dim() != 4 or feats.shape[1] != head.in_features:
        return None
    return _standardised(torch.einsum("bchw,bc->bhw", feats, head.weight[target])[:, None]).detach()


def finer_tap(classifier: Classifier, ref: dict[str, torch.Tensor]) -> str | None:
    """The last tap whose map is finer than the last tap's (stride 16 on the ImageNet backbones: 14x14 at
    224), read from a pass's activations `ref`; None when the last tap has no spatial map or none is finer."""
    taps = classifier.spec.taps
    last = ref[taps[-1]]
    if last.dim() != 4:
        return None
    finer = [t for t in taps[:-1] if ref[t].dim() == 4 and ref[t].shape[-1] > last.shape[-1]]
    return finer[-1] if finer else None


def grad_cam(classifier: Classifier, pixels: torch.Tensor, target: torch.Tensor, acts: dict[str, torch.Tensor],
             tap: str) -> torch.Tensor:
    """Grad-CAM of `target` at `tap` ([B,1,h,w], standardised per image): the tap's channels weighted by the
    spatial mean of the target logit's gradient, summed, rectified. One forward and backward pass (`acts`:
    the capture dict the classifier's taps write to). Finer than the class map (which reads the last tap),
    it tells apart the parts of an object that the last map merges into one blob (the amortised mode blends
    the two; as a candidate of the per-image default it gave no smaller masks: docs/method.md)."""
    with torch.enable_grad():
        logits = classifier(pixels.detach().requires_grad_(True))
        feats = acts[tap]
        (grads,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), feats)
    weighted = (grads.mean((2, 3), keepdim=True) * feats.detach()).sum(1, keepdim=True)
    return _standardised(torch.relu(weighted))


def at_input_size(maps: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """A coarse map [B,1,h,w] upsampled bilinearly to the size of `pixels`: a ranking of the input's pixels."""
    return F.interpolate(maps, size=pixels.shape[-2:], mode="bilinear", align_corners=False)


def _standardised(maps: torch.Tensor) -> torch.Tensor:
    """Each image's map [B,1,h,w] shifted and scaled to mean 0, standard deviation 1 (a ranking's scale)."""
    flat = maps.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)).view_as(maps)


def _prior(classifier, pixels, target, ref, logits_x, cfg: ExplainConfig) -> torch.Tensor | None:
    """The free grid's starting ranking, standardised per image at the generator's resolution; None for
    "cam" on an architecture whose last tap is not the linear head's spatial input (VGG, MobileNetV3)."""
    if cfg.prior == "occlusion":
        return occlusion_prior(classifier, pixels, target, cfg, logits_x)
    if cfg.prior == "cam":
        cam = class_activation_map(classifier, ref[classifier.spec.taps[-1]], target)
        if cam is None:
            return None
        return _standardised(F.interpolate(cam, size=(cfg.mask_resolution,) * 2, mode="bilinear",
                                           align_corners=False))
    raise ValueError(f"unknown prior {cfg.prior!r}: none, occlusion or cam")


def occlusion_prior(classifier: Classifier, pixels: torch.Tensor, target: torch.Tensor,
                    cfg: ExplainConfig, logits_x: torch.Tensor | None = None) -> torch.Tensor:
    """Necessity of each cell of a coarse `prior_grid` x `prior_grid` grid: the drop of the target's
    log-probability when that cell alone is set to the baseline (forward passes only, one per cell).
    Returned standardised per image at the generator's resolution, to start the free grid from a
    ranking that already means something (from a flat start, the first gradient step replaces the
    ranking with that gradient's sign pattern). `logits_x`, the originals' logits when already computed,
    save one pass per image."""
    b, _, h, w = pixels.shape
    g = cfg.prior_grid
    cells = torch.eye(g * g, device=pixels.device).view(g * g, 1, g, g)
    holes = 1 - F.interpolate(cells, size=(h, w), mode="nearest")
    base = classifier.baseline
    out = []
    for i in range(b):
        ref = classifier(pixels[i : i + 1]) if logits_x is None else logits_x[i : i + 1]
        lp0 = torch.log_softmax(ref, 1)[0, target[i]]
        lp = torch.cat([
            torch.log_softmax(classifier(apply_mask(pixels[i : i + 1], holes[j : j + 16], base)), 1)[:, target[i]]
            for j in range(0, g * g, 16)
        ])
        out.append((lp0 - lp).view(1, 1, g, g))
    return _standardised(F.interpolate(torch.cat(out), size=(cfg.mask_resolution,) * 2, mode="bilinear",
                                       align_corners=False))
