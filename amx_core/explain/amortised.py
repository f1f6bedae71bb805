"""Amortised mode: one mask generator shared by all images (`SharedUNet`), trained over many images with
the per-image explainer's objective (`train_masker`); a new image is then explained by one forward pass of
it (no classifier pass), optionally a few per-image refinement steps, and the same binary-mask selection
and report as `explain` (`explain_amortised`).

A masker file (`Masker.save`, torch.save of plain data) holds the generator's state dict, the model name,
the config, the sha256 of every training image (so a record can say whether an image was seen in
training) and the median area selected on the training images (the area goal of the optional refinement).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..backgrounds import background_batch
from ..config import ExplainConfig, for_taps, get_preset
from ..errors import AmxError
from ..hooks import capture, frozen
from ..models import Classifier, apply_mask
from .explainer import Progress, at_input_size, blend, class_activation_map, finer_tap, grad_cam
from .explanation import Explanation, explanation_records
from .masker import MaskUNet
from .objective import objective_terms
from .selection import add_report, mask_logits, select_masks, select_sequential

FORMAT = "amx-masker/1"


class MaskerFileError(AmxError):
    """A masker file that is missing, unreadable, not a masker, or made for another model."""


class SharedUNet(MaskUNet):
    """`MaskUNet` with one set of weights shared by every image of a batch.

    MaskUNet folds the batch into grouped channels (one generator per image), so with copies=1 it only
    takes a batch of one; here each layer is an ordinary convolution over the batch instead.
    """

    def __init__(self, width: int = 16, resolution: int = 56):
        super().__init__(1, width, resolution, free_grid=False)
        # weight of the class activation map (from the reference pass's features, no extra classifier
        # pass) added to the U-Net's scores: a per-image hint the shared generator learns to correct
        self.cam_scale = nn.Parameter(torch.tensor(1.0))

    def cam_term(self, cam: torch.Tensor | None) -> torch.Tensor | float:
        if cam is None:
            return 0.0
        return self.cam_scale * F.adaptive_avg_pool2d(cam, self.resolution)

    def scores(self, pixels: torch.Tensor, cam: torch.Tensor | None) -> torch.Tensor:
        return self(pixels) + self.cam_term(cam)

    @classmethod
    def seeded_shared(cls, *, width: int, resolution: int, seed: int) -> SharedUNet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = cls(width, resolution)
        with torch.no_grad():
            net.out.bias.zero_()
        return net

    def _g(self, layer, x):
        return layer(x)

    def per_image_copies(self, b: int) -> MaskUNet:
        """`b` independent generators (MaskUNet's grouped form) that all start from these weights."""
        net = MaskUNet(b, self.e1.out_channels, self.resolution, free_grid=False).to(self.e1.weight.device)
        with torch.no_grad():
            mine = [(n, p) for n, p in self.named_parameters() if n != "cam_scale"]
            for (_, many), (_, one) in zip(net.named_parameters(), mine, strict=True):
                many.copy_(one.repeat((b,) + (1,) * (one.dim() - 1)))
        return net


@dataclass
class Masker:
    net: SharedUNet
    model: str
    config: ExplainConfig
    image_hashes: tuple[str, ...] = ()
    start_area: float = 0.1  # median area selected on the training images (refinement's area goal)
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "model": self.model,
            "width": self.net.e1.out_channels,
            "resolution": self.net.resolution,
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "config": asdict(self.config),
            "image_hashes": list(self.image_hashes),
            "start_area": self.start_area,
            "info": self.info,
        }
        tmp = path.with_name(path.name + ".partial")
        torch.save(payload, tmp)
        tmp.replace(path)


def load_masker(path: str | Path, *, model: str | None = None, device: str = "cpu") -> Masker:
    """Read a masker file; `model`, when given, must be the model it was trained for."""
    path = Path(path)
    if not path.exists():
        raise MaskerFileError(f"masker file {path}: missing")
    if path.is_dir():
        raise MaskerFileError(f"masker file {path}: is a folder, expected a file written by amx-train-masker")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise MaskerFileError(f"masker file {path}: unreadable or corrupt ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MaskerFileError(f"masker file {path}: not a masker written by amx-train-masker")
    if model is not None and payload["model"] != model:
        raise MaskerFileError(f"masker file {path}: trained for model {payload['model']!r}, not {model!r}")
    try:
        cfg = ExplainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()})
        net = SharedUNet(int(payload["width"]), int(payload["resolution"]))
        net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise MaskerFileError(f"masker file {path}: damaged contents ({type(exc).__name__})") from None
    net.to(device).eval()
    return Masker(net=net, model=payload["model"], config=cfg, image_hashes=tuple(payload["image_hashes"]),
                  start_area=float(payload["start_area"]), info=dict(payload.get("info") or {}))


def pixels_sha256(pixels: torch.Tensor) -> str:
    """Identity of an image given as pixels (training from tensors); files use their bytes' sha256."""
    return hashlib.sha256(pixels.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- training


def _augment(x: torch.Tensor, gen: torch.Generator, min_scale: float = 0.6) -> torch.Tensor:
    """A random crop (scale min_scale..1 of the side) resized back, and a random horizontal flip (of every
    channel: a teacher's mask stacked as a fourth channel moves with its image)."""
    _, h, w = x.shape
    s = min_scale + (1 - min_scale) * float(torch.rand(1, generator=gen))
    ch, cw = max(8, int(h * s)), max(8, int(w * s))
    top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    crop = x[:, top : top + ch, left : left + cw]
    if (ch, cw) != (h, w):
        crop = F.interpolate(crop[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    if float(torch.rand(1, generator=gen)) < 0.5:
        crop = crop.flip(-1)
    return crop.clamp(0, 1)


def train_masker(
    classifier: Classifier,
    images: torch.Tensor | list[str | Path],
    *,
    config: ExplainConfig | str = "default",
    epochs: int = 20,
    batch_size: int = 4,
    lr: float | None = None,
    augment: bool = True,
    area_range: tuple[float, float] = (0.03, 0.3),
    seed: int | None = None,
    teacher_masks: torch.Tensor | None = None,
    progress: Progress | None = None,
    trace: list[dict[str, float]] | None = None,
) -> Masker:
    """Train one shared generator over `images` (a [N,3,H,W] tensor in [0,1] or image files).

    Same loss terms and weights as `explain` (activation matching, KL, CE, area, area hinge, binarisation,
    TV, robustness over random backgrounds), the same area-controlled mask and straight-through
    binarisation; each image's area is drawn log-uniform in `area_range` (its upper end shrinking from
    `config.area_start` over the first `config.area_schedule` of training), so the ranking is good at every
    area of the selection ladder. Targets are the classifier's top-1 on each (augmented) image.

    `teacher_masks` [N,1,H,W] (binary, e.g. the per-image explainer's masks of these images,
    `teacher_masks_of`): the masker learns to rank as the teacher chose instead, a per-pixel cross-entropy
    between the teacher's mask and the masker's mask logits at the teacher's area (no classifier pass
    but the one that reads the class map): its ranking then follows the per-image explainer's
    minimal masks, which the objective at drawn areas does not learn.
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    cfg = for_taps(cfg, len(classifier.spec.taps))  # presets are written for 5 taps; any model has its own
    if epochs < 1:
        raise AmxError(f"--epochs {epochs}: must be at least 1")
    seed = cfg.seed if seed is None else seed
    device = classifier.mean.device
    if isinstance(images, torch.Tensor):
        pixels = images.detach().to(device)
        hashes = tuple(pixels_sha256(p) for p in pixels)
    else:
        from ..images import file_sha256, load_image

        pixels = torch.stack([classifier.preprocess(load_image(p)) for p in images]).to(device)
        hashes = tuple(file_sha256(p) for p in images)
    n, _, h, w = pixels.shape
    if n == 0:
        raise AmxError("no training images")
    if teacher_masks is not None:
        if teacher_masks.shape != (n, 1, h, w):
            raise ValueError(f"teacher masks {tuple(teacher_masks.shape)} for images {tuple(pixels.shape)}")
        pixels = torch.cat([pixels, teacher_masks.to(device, pixels.dtype)], 1)  # augmented together
    net = SharedUNet.seeded_shared(width=cfg.width, resolution=cfg.mask_resolution, seed=seed).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr if lr is not None else (cfg.unet_lr or cfg.lr))
    gen = torch.Generator().manual_seed(seed + 11)
    taps = classifier.spec.taps
    kinds = cfg.background_kinds
    nr = cfg.robust_samples
    bs = max(1, min(batch_size, n))
    per_epoch = (n + bs - 1) // bs
    total = epochs * per_epoch
    st_step = int(cfg.straight_through_from * total)
    lo_area, hi_area = area_range
    step = 0
    with frozen(classifier), capture(classifier.net, taps) as acts:
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for k in range(per_epoch):
                idx = order[k * bs : (k + 1) * bs]
                x = pixels[idx]
                if augment:
                    x = torch.stack([_augment(img, gen) for img in x.cpu()]).to(device)
                x, teacher = (x[:, :3], x[:, 3:]) if teacher_masks is not None else (x, None)
                b = x.shape[0]
                with torch.no_grad():
                    logits_x = classifier(x)
                    ref = {t: acts[t].detach().clone() for t in taps}
                target = logits_x.argmax(1)
                cam = class_activation_map(classifier, ref[taps[-1]], target)
                if teacher is not None:
                    loss = _distillation_loss(net.scores(x, cam), teacher, cfg)
                    if trace is not None:
                        trace.append({"distillation": float(loss.detach())})
                else:
                    frac = min(1.0, step / max(1, cfg.area_schedule * total))
                    hi = max(lo_area, cfg.area_start + (hi_area - cfg.area_start) * frac)
                    u = torch.rand(b, generator=gen)
                    goals = (torch.tensor(lo_area).log() + u * (torch.tensor(hi).log() - torch.tensor(lo_area).log()))
                    goals = goals.exp().to(device)
                    tau = cfg.temperature * (cfg.temperature_end / cfg.temperature) ** (step / max(1, total - 1))
                    soft = torch.sigmoid(mask_logits(net.scores(x, cam), goals, tau, cfg, (h, w)))
                    m = soft
                    if step >= st_step:
                        m = (soft > 0.5).to(soft) + soft - soft.detach()
                    rngs = [torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
                            for _ in range(b * nr)]
                    bg = background_batch([kinds[(step * nr + j) % len(kinds)] for j in range(nr) for _ in range(b)],
                                          x.cpu().repeat(nr, 1, 1, 1), rngs, blur_sigma=cfg.blur_sigma).to(device)
                    terms = objective_terms(classifier, acts, x, m, soft, goals, bg, ref, logits_x, target, cfg)
                    loss = torch.stack(list(terms.values())).sum(0).mean()
                    if trace is not None:
                        trace.append({k: float(v.detach().mean()) for k, v in terms.items()} | {"loss": float(loss)})
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if progress:
                    progress(step, total)
        net.eval()
        pixels = pixels[:, :3]
        # where the ladder search starts on a new image: the median area chosen on the training images
        with torch.no_grad():
            areas = []
            for i in range(0, n, 16):
                target = classifier(pixels[i : i + 16]).argmax(1)
                cam = class_activation_map(classifier, acts[taps[-1]], target)
                rank = _rank(net, pixels[i : i + 16], cfg, cam)
                masks, _ = select_masks(classifier, pixels[i : i + 16], rank, target, cfg)
                areas += [float(mk.mean()) for mk in masks]
    return Masker(net=net, model=classifier.spec.name, config=cfg, image_hashes=hashes,
                  start_area=statistics.median(areas),
                  info={"epochs": epochs, "batch_size": bs, "augment": augment, "steps": total,
                        "area_range": list(area_range), "train_areas": areas,
                        "teacher": teacher_masks is not None})


def _distillation_loss(scores: torch.Tensor, teacher: torch.Tensor, cfg: ExplainConfig) -> torch.Tensor:
    """Per-pixel binary cross-entropy between a teacher's masks [B,1,H,W] (soft at the edges after a resize)
    and the masker's mask logits at each teacher mask's own area, each image weighing the same."""
    areas = teacher.flatten(1).mean(1).clamp(1e-3, 1.0)
    logits = mask_logits(scores, areas, cfg.temperature, cfg, teacher.shape[-2:])
    # the mask's pixels and the rest weigh half each, whatever the area
    weight = teacher / (2 * areas.view(-1, 1, 1, 1)) + (1 - teacher) / (2 * (1 - areas).clamp_min(1e-3).view(-1, 1, 1, 1))
    return F.binary_cross_entropy_with_logits(logits, teacher, weight=weight)


def teacher_masks_of(classifier: Classifier, pixels: torch.Tensor, config: ExplainConfig | str = "default",
                     progress: Progress | None = None) -> torch.Tensor:
    """The per-image explainer's masks of `pixels` [N,3,H,W] ([N,1,H,W]): what `train_masker` distils."""
    from .explainer import explain

    masks = []
    for i in range(pixels.shape[0]):
        (ex,) = explain(classifier, pixels[i : i + 1], config=config, report=False)
        masks.append(ex.mask.detach())
        if progress:
            progress(i + 1, pixels.shape[0])
    return torch.stack(masks)


def _rank(gen, pixels: torch.Tensor, cfg: ExplainConfig, cam: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's ranking at the input size (as `explain` ranks after its optimisation)."""
    b, _, h, w = pixels.shape
    goals = torch.full((b,), cfg.area_target, device=pixels.device)
    return mask_logits(gen.scores(pixels, cam), goals, cfg.temperature_end, cfg, (h, w))


# -------------------------------------------------------------------------------------------- explaining


def explain_amortised(
    classifier: Classifier,
    pixels: torch.Tensor,
    masker: Masker,
    *,
    targets: list[int] | None = None,
    refine_steps: int = 0,
    refine_lr: float | None = None,
    config: ExplainConfig | str | None = None,
    search: str = "sequential",
    report: bool = True,
) -> list[Explanation]:
    """Explain [B,3,H,W] pixels with a trained masker: one generator pass (no classifier pass), optionally
    `refine_steps` per-image steps of the explainer's losses (each image gets its own copy of the
    generator), then the smallest binary mask on the area ladder that keeps the label on the baseline
    and on the random backgrounds (the acceptance test of `explain`), and the same report.

    With `cam_candidate` the class-activation map challenges the masker's ranking, and with
    `gradcam_candidate` then the class map's blend with Grad-CAM at a finer tap (one pass): each searched
    below the best mask so far, the smallest verified mask wins and its ranking is reported.

    `search="sequential"` is `explain`'s ladder search probe for probe, each probe stopping as soon as
    its verdict is known (the same mask, fewer passes; see `select_sequential`; the blend's search climbs
    from the smallest level first); `search="binary"` calls `explain`'s own `select_masks` (batched
    probes). `classifier_passes` counts every image forward (with its backward, where there is one).
    """
    if masker.model != classifier.spec.name:
        raise MaskerFileError(f"masker trained for model {masker.model!r}, classifier is {classifier.spec.name!r}")
    if refine_steps < 0:
        raise AmxError(f"--refine-steps {refine_steps}: must be at least 0")
    if search not in ("sequential", "binary"):
        raise ValueError(f"search {search!r}: expected sequential or binary")
    cfg = masker.config if config is None else (get_preset(config) if isinstance(config, str) else config)
    if targets is not None and len(targets) != pixels.shape[0]:
        raise ValueError(f"{len(targets)} targets for {pixels.shape[0]} images")
    net = masker.net.to(pixels.device).eval()
    out = []
    with frozen(classifier), capture(classifier.net, classifier.spec.taps) as acts:
        # one image at a time, as in `explain`: the same numbers whatever else is in the batch
        for i in range(pixels.shape[0]):
            ex = _explain_one(classifier, pixels[i : i + 1], acts, net, masker, cfg,
                              None if targets is None else targets[i], refine_steps, refine_lr, search)
            if report:
                add_report(classifier, ex, cfg)
            out.append(ex)
    return out


def _explain_one(classifier, pixels, acts, net, masker: Masker, cfg: ExplainConfig, target_class: int | None,
                 refine_steps: int, refine_lr: float | None, search: str) -> Explanation:
    start = time.perf_counter()
    with torch.no_grad():
        logits_x = classifier(pixels)
        ref = {t: acts[t].detach().clone() for t in classifier.spec.taps}
    passes = 1
    target = torch.tensor([target_class], device=pixels.device) if target_class is not None else logits_x.argmax(1)
    cam = class_activation_map(classifier, ref[classifier.spec.taps[-1]], target)
    if refine_steps:
        gen = _refine(classifier, pixels, acts, ref, logits_x, target, net, masker, cfg, refine_steps, refine_lr, cam)
        passes += refine_steps * (1 + cfg.robust_samples)
    else:
        gen = net
    source = "amortised" + (f"+refine{refine_steps}" if refine_steps else "")
    with torch.no_grad():
        rank = _rank(gen, pixels, cfg, cam)
        masks, logits_e, spent = _search(classifier, pixels, rank, target, cfg, logits_x, search)
        passes += spent
        for name, challenger, cost, gallop in _challengers(classifier, pixels, target, acts, ref, cam, cfg):
            # one more search each, of the levels below the best mask so far (sequential search): the smaller
            # verified mask wins and its ranking is reported, as in `explain`
            passes += cost
            area = float(masks[0].mean())
            c_masks, c_logits, spent = _search(classifier, pixels, challenger, target, cfg, logits_x, search,
                                               below=area, gallop=gallop)
            passes += spent
            if float(c_masks[0].mean()) < area:
                masks, logits_e, rank, source = c_masks, c_logits, challenger, name
    return explanation_records(pixels, target, masks, rank, logits_x, logits_e, classifier.baseline[0], [
        {"steps": refine_steps, "classifier_passes": passes, "mask_source": source,
         "seconds": time.perf_counter() - start}
    ])[0]


def _challengers(classifier, pixels, target, acts, ref, cam, cfg: ExplainConfig):
    """The rankings that challenge the masker's, in order, as (name, ranking at the input size, classifier
    passes to compute it, whether its search climbs first): with `cam_candidate`, the class-activation map
    (free; a blend of masker and map measured no smaller for 4 more passes: docs/method.md), then with
    `gradcam_candidate` the map's blend with Grad-CAM at the finer tap (one pass): the finer map splits the
    class map's blob and the blend keeps the cells both rank high; its small levels are where it wins, and a
    bisection steps over them where the label flickers along the ladder, so its search climbs first."""
    if not cfg.cam_candidate or cam is None:
        return
    cam_rank = at_input_size(cam, pixels)
    yield "cam", cam_rank, 0, False
    tap = finer_tap(classifier, ref) if cfg.gradcam_candidate else None
    if tap is not None:
        yield "blend:cam+gradcam", blend([cam_rank, at_input_size(grad_cam(classifier, pixels, target, acts, tap),
                                                                   pixels)]), 1, True


def _search(classifier, pixels, rank, target, cfg: ExplainConfig, logits_x, search: str, below: float | None = None,
            gallop: bool = False):
    """One image's mask on `rank`: masks, the baseline logits of the chosen mask and the passes spent.
    `below` (sequential search): a challenger's search, of the levels under that area only (logits None
    when none holds); `gallop`: climb from the smallest level first (`select_sequential`)."""
    if search == "binary":
        masks, sel = select_masks(classifier, pixels, rank, target, cfg, logits_x=logits_x)
        return masks, classifier(apply_mask(pixels, masks, classifier.baseline)), sel + 1
    masks, logits_e, sel_passes = select_sequential(classifier, pixels, rank, target, cfg, logits_x,
                                                    below=None if below is None else [below], gallop=gallop)
    return masks, logits_e, sel_passes[0]


def _refine(classifier, pixels, acts, ref, logits_x, target, net: SharedUNet, masker: Masker, cfg: ExplainConfig,
            steps: int, lr: float | None, cam: torch.Tensor | None) -> _Refined:
    """A few per-image steps of the explainer's losses from the shared weights, at the masker's typical
    area, binarised straight-through (the selection will binarise too)."""
    b, _, h, w = pixels.shape
    device = pixels.device
    gen = _Refined(net.per_image_copies(b), net.cam_term(cam).detach() if cam is not None else None)
    opt = torch.optim.Adam(gen.parameters(), lr=lr if lr is not None else (cfg.unet_lr or cfg.lr))
    kinds = cfg.background_kinds
    nr = cfg.robust_samples
    rngs = [torch.Generator().manual_seed(cfg.draw_seed + 1) for _ in range(b)]
    goals = torch.full((b,), masker.start_area, device=device)
    for step in range(steps):
        soft = torch.sigmoid(mask_logits(gen.scores(pixels, cam), goals, cfg.temperature_end, cfg, (h, w)))
        m = (soft > 0.5).to(soft) + soft - soft.detach()
        bg = background_batch([kinds[(step * nr + j) % len(kinds)] for j in range(nr) for _ in range(b)],
                              pixels.cpu().repeat(nr, 1, 1, 1), rngs * nr, blur_sigma=cfg.blur_sigma).to(device)
        terms = objective_terms(classifier, acts, pixels, m, soft, goals, bg, ref, logits_x, target, cfg)
        del terms["area_hinge"]  # the refinement holds the area fixed at the masker's start area
        per_image = torch.stack(list(terms.values())).sum(0)
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        opt.step()
    return gen.eval()


class _Refined(nn.Module):
    """Per-image generator copies plus the shared generator's (fixed) class-activation term."""

    def __init__(self, copies: MaskUNet, term: torch.Tensor | None):
        super().__init__()
        self.copies, self.term = copies, term

    def scores(self, pixels: torch.Tensor, _cam=None) -> torch.Tensor:
        z = self.copies(pixels)
        return z if self.term is None else z + self.term
