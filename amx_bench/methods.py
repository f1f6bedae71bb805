"""The registry of explanation methods amx-bench compares, behind one signature: AMX (each preset) and
published peers.

`run_method(name, classifier, image, target, seed=0)` returns an `Attribution`: a saliency map [H,W] (higher =
more important for `target`), the method's own binary mask where it makes one (AMX; Extremal
Perturbations' mask thresholded at 0.5), wall time, and classifier passes counted by a hook on the
classifier (images forwarded, backward passes), the same way for every method.

Peers run with their published defaults, imported from their PyPI packages (optional: the `bench`
extra), never copied:
- Grad-CAM (`grad-cam`): `GradCAM` on the model's last tapped layer (the final feature map).
- Occlusion (`captum`): the window and stride of captum's ImageNet tutorial (3x15x15, stride 3x8x8),
  baseline 0.
- Integrated Gradients (`captum`): captum's defaults (50 steps, Gauss-Legendre), baseline 0.
- RISE (`torchray`, CC BY-NC, benchmark use only): 8000 masks, 7x7 cells, p = 0.5.
- Extremal Perturbations (`torchray`): 800 iterations, area 10%, blur perturbation, preserve variant.

The peers see a `Centred` view of the classifier whose input is pixels minus the classifier's grey
baseline, so a zero input (their default baseline, and what RISE multiplies masked pixels by) is the
same grey that AMX and the metrics use for removed pixels: the normalised-input convention the peers
were published with. Occlusion and Integrated Gradients saliency is the attribution summed over colour
channels (signed: positive evidence for the target ranks first).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from amx_core.errors import AmxError
from amx_core.hooks import frozen
from amx_core.models import Classifier

from .sufficiency import PassCount, count_passes

BENCH_EXTRA = "pip install 'amx-circuits[bench]'"


@dataclass
class Attribution:
    saliency: torch.Tensor  # [H,W], higher = more important
    mask: torch.Tensor | None  # the method's own binary mask [1,H,W], where it makes one
    seconds: float = 0.0
    passes: PassCount = field(default_factory=PassCount)
    info: dict[str, Any] = field(default_factory=dict)


# (classifier, image, target, seed) -> (saliency, own mask or None, info); a method that draws random numbers
# draws them from `seed` (AMX: its config's seed) or from torch's global generator, seeded with it first
Runner = Callable[[Classifier, torch.Tensor, int, int], tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # for tables and figures
    runner: Runner
    package: str | None = None  # PyPI package the method needs
    module: str | None = None  # its import name
    licence_note: str = ""
    imports: tuple[str, ...] = ()  # modules imported before any timing (their import is not the method's time)


class Centred(nn.Module):
    """The classifier seen from inputs centred on its grey baseline: f(z) = classifier(z + baseline)."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(z + self.classifier.baseline)


def _centre(classifier: Classifier, image: torch.Tensor) -> torch.Tensor:
    return (image - classifier.baseline[0])[None]


# ---------------------------------------------------------------- AMX


def _amx(preset: str, per_seed: bool = False) -> Runner:
    """AMX with a preset; `per_seed`: its draws follow the seed (the per-seed variant; presets draw canonically,
    so their explanation does not depend on the seed)."""

    def run(classifier: Classifier, image: torch.Tensor, target: int, seed: int):
        from amx_core.config import get_preset
        from amx_core.explain import explain

        cfg = get_preset(preset).with_(seed=seed, per_seed=per_seed or get_preset(preset).per_seed)
        ex = explain(classifier, image[None], targets=[target], config=cfg, report=False)[0]
        info = {"amx_classifier_passes": ex.metrics.get("classifier_passes"),
                "amx_mask_source": ex.metrics.get("mask_source")}
        return ex.rank_map.reshape(image.shape[-2:]).float(), ex.mask.reshape(1, *image.shape[-2:]).float(), info

    return run


# ---------------------------------------------------------------- peers


def _gradcam(classifier: Classifier, image: torch.Tensor, target: int, _seed: int):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer_name = classifier.spec.taps[-1]
    with GradCAM(model=classifier, target_layers=[classifier.module(layer_name)]) as cam:
        heat = cam(input_tensor=image[None].clone().requires_grad_(True), targets=[ClassifierOutputTarget(target)])
    return torch.from_numpy(heat[0]).float(), None, {"layer": layer_name}


def _occlusion(classifier: Classifier, image: torch.Tensor, target: int, _seed: int):
    from captum.attr import Occlusion

    attr = Occlusion(Centred(classifier)).attribute(
        _centre(classifier, image), target=target, sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8),
        baselines=0, perturbations_per_eval=16,  # batching only: the same result as one at a time
    )
    return attr[0].sum(0).detach().float(), None, {}


def _integrated_gradients(classifier: Classifier, image: torch.Tensor, target: int, _seed: int):
    from captum.attr import IntegratedGradients

    attr = IntegratedGradients(Centred(classifier)).attribute(_centre(classifier, image), target=target)
    return attr[0].sum(0).detach().float(), None, {}


def _rise(classifier: Classifier, image: torch.Tensor, target: int, _seed: int):
    from torchray.attribution.rise import rise_class

    sal = rise_class(Centred(classifier), _centre(classifier, image), target=[target])
    return sal[0, 0].detach().float(), None, {}


def _extremal_perturbation(classifier: Classifier, image: torch.Tensor, target: int, _seed: int):
    import warnings

    from torchray.attribution.extremal_perturbation import extremal_perturbation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch.meshgrid indexing notice from inside torchray
        masks, _energy = extremal_perturbation(Centred(classifier), _centre(classifier, image), target)
    soft = masks[0, 0].detach().float()
    return soft, (soft > 0.5).float()[None], {"areas": [0.1], "max_iter": 800}


def _registry() -> dict[str, Method]:
    from amx_core.config import PRESETS

    methods = [Method(f"amx-{p}", f"AMX {p}", _amx(p), imports=("amx_core.explain",)) for p in PRESETS]
    methods += [Method("amx-default-per-seed", "AMX default, draws from the seed", _amx("default", per_seed=True),
                       imports=("amx_core.explain",))]
    methods += [
        Method("gradcam", "Grad-CAM", _gradcam, "grad-cam", "pytorch_grad_cam",
               imports=("pytorch_grad_cam", "pytorch_grad_cam.utils.model_targets")),
        Method("occlusion", "Occlusion", _occlusion, "captum", "captum", imports=("captum.attr",)),
        Method("integrated-gradients", "Integrated Gradients", _integrated_gradients, "captum", "captum",
               imports=("captum.attr",)),
        Method("rise", "RISE", _rise, "torchray", "torchray", "CC BY-NC 4.0: benchmark use only",
               imports=("torchray.attribution.rise",)),
        Method("extremal-perturbation", "Extremal Perturbations", _extremal_perturbation, "torchray", "torchray",
               "CC BY-NC 4.0: benchmark use only", imports=("torchray.attribution.extremal_perturbation",)),
    ]
    return {m.name: m for m in methods}


METHODS: dict[str, Method] = _registry()


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise AmxError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


def check_available(method: Method) -> None:
    """One clear line when a peer's package is missing or does not import on this torch."""
    if method.module is None:
        for module in method.imports:
            importlib.import_module(module)
        return
    if importlib.util.find_spec(method.module) is None:
        raise AmxError(f"method {method.name} needs the PyPI package {method.package}, which is not installed; "
                       f"install it with {BENCH_EXTRA}")
    try:
        for module in (method.module, *method.imports):
            importlib.import_module(module)
    except Exception as exc:  # a broken install or one that does not run on this torch
        raise AmxError(f"method {method.name}: package {method.package} is installed but does not import "
                       f"({type(exc).__name__}: {exc}); reinstall it with {BENCH_EXTRA}") from None


def run_method(method: Method | str, classifier: Classifier, image: torch.Tensor, target: int,
               seed: int = 0) -> Attribution:
    """Run one method on one image [3,H,W] in [0,1] for class `target` with random numbers from `seed`
    (torch's global generator is seeded with it first): time and passes counted here, the classifier's
    training flag and requires_grad restored after."""
    m = get_method(method) if isinstance(method, str) else method
    torch.manual_seed(seed)
    with frozen(classifier), count_passes(classifier) as passes:
        start = time.perf_counter()
        saliency, mask, info = m.runner(classifier, image, target, seed)
        seconds = time.perf_counter() - start
    if saliency.shape != image.shape[-2:]:
        raise AmxError(f"method {m.name} returned a {tuple(saliency.shape)} map for a "
                       f"{tuple(image.shape[-2:])} image")
    return Attribution(saliency=saliency.to(image.device), mask=None if mask is None else mask.to(image.device),
                       seconds=seconds, passes=PassCount(passes.forward, passes.backward), info=info)


__all__ = ["METHODS", "Attribution", "Centred", "Method", "check_available", "get_method", "run_method"]
