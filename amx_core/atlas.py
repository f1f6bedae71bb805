"""The channel atlas: what each circuit channel responds to.

At readout every kept channel records where it peaks on the image (`Node.peak*`, `grid_h`/`grid_w`).
`cut_patches` turns that position into the input patch that drove the channel: the peak's cell on the
layer's grid (input side / grid side, the layer's stride), widened to `cells` cells and at least
`min_side` pixels (a cheap stand-in for the receptive field, which grows faster than the stride), clipped
to the image and shifted inside it, then resized to `size` x `size` and encoded as JPEG. Ingest stores the
patch on the channel's Act node, so a channel's top examples are one query (`channel_examples`) over the
store and are as consistent as the circuits themselves.

`amx-atlas` (`feature_visualisation`, `main`) renders a feature visualisation per channel: regularised
activation maximisation with jitter in a decorrelated Fourier parameterisation (as in Lucid/Lucent),
cached per model under out/atlas/.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import torch

from .circuit import Circuit, Node, peak_box

PATCH_SIZE = 64  # side of a stored patch, pixels
PATCH_CELLS = 3.0  # patch side in cells of the layer's grid
PATCH_MIN_SIDE = 24  # smallest patch side in input pixels (early layers have 1-2 pixel cells)
PATCH_QUALITY = 80


def patch_box(node: Node, height: int, width: int, *, cells: float = PATCH_CELLS,
              min_side: int = PATCH_MIN_SIDE) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) in input pixels of the patch around the node's peak; None when the node
    has no recorded peak. A square of max(cells x cell size, min_side), inside the image."""
    return peak_box(node.peak_row, node.peak_col, node.grid_h, node.grid_w, height, width, cells=cells,
                    min_side=min_side)


def _uint8(pixels: torch.Tensor):
    """[3, H, W] in [0, 1] -> H x W x 3 uint8 numpy array."""
    x = pixels.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def cut_patches(circuit: Circuit, pixels: torch.Tensor, *, size: int = PATCH_SIZE, cells: float = PATCH_CELLS,
                min_side: int = PATCH_MIN_SIDE, quality: int = PATCH_QUALITY,
                nodes: Iterable[Node] | None = None) -> dict[str, bytes]:
    """cid -> `size` x `size` JPEG of the input patch around each node's peak (`pixels` [3, H, W] in [0, 1]:
    what the circuit's forward pass saw). Nodes without a recorded peak get none."""
    from PIL import Image

    arr = _uint8(pixels)
    height, width = arr.shape[:2]
    out: dict[str, bytes] = {}
    for n in circuit.nodes if nodes is None else nodes:
        box = patch_box(n, height, width, cells=cells, min_side=min_side)
        if box is None:
            continue
        top, left, bottom, right = box
        img = Image.fromarray(arr[top:bottom, left:right])
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        out[n.cid] = buf.getvalue()
    return out


CONTEXT = 0.4  # explanation patches: how much of the removed pixels shows through the grey


def explanation_view(pixels: torch.Tensor, explanation: torch.Tensor, context: float = CONTEXT) -> torch.Tensor:
    """What the explanation circuit's patches are cut from: the explanation with the removed pixels faded in at
    `context` over the grey baseline (the kept pixels are the photo's either way, since e = m*x + (1-m)*grey),
    so a patch that is mostly removed still shows where on the object it sits; with a small mask a plain
    explanation patch is nearly all grey."""
    return explanation * (1.0 - context) + pixels * context


def add_patches(circuit: Circuit, pixels: torch.Tensor, **kwargs) -> Circuit:
    """Cut the circuit's patches from `pixels` and keep them on it (for the store); returns the circuit."""
    circuit.patches = cut_patches(circuit, pixels, **kwargs)
    return circuit


# ------------------------------------------------------------------ feature visualisation (amx-atlas)

# Lucid's colour decorrelation: the square root of ImageNet's colour covariance (its SVD), normalised
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


class FourierImage(torch.nn.Module):
    """A [1, 3, size, size] image in [0, 1] parameterised by its 2-D Fourier spectrum, scaled by 1 / frequency
    (so the optimiser sees the natural-image spectrum whitened) and mapped through decorrelated colour (Lucid's
    `fft_image` + `to_valid_rgb`)."""

    def __init__(self, size: int, *, decay: float = 1.0, sd: float = 0.01, generator: torch.Generator | None = None):
        super().__init__()
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        freq = torch.sqrt(fx * fx + fy * fy)
        self.register_buffer("scale", (1.0 / torch.clamp(freq, min=1.0 / size) ** decay) / 4.0)  # as Lucid
        self.size = size
        self.spectrum = torch.nn.Parameter(sd * torch.randn(1, 3, size, size // 2 + 1, 2, generator=generator))

    def forward(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        img = torch.fft.irfft2(spec, s=(self.size, self.size), norm="ortho")
        img = torch.einsum("ij,bjhw->bihw", _COLOR_SQRT.to(img.device), img)
        return torch.sigmoid(img)


def _jitter(x: torch.Tensor, generator: torch.Generator, pad: int, jitter: int, scales: tuple[float, ...]) -> torch.Tensor:
    """Lucid's standard transforms: pad (reflect), random shift, random scale, then a centre crop back."""
    import torch.nn.functional as F

    size = x.shape[-1]
    x = F.pad(x, (pad,) * 4, mode="reflect")
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    s = scales[int(torch.randint(len(scales), (1,), generator=generator))]
    if s != 1.0:
        x = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    h = x.shape[-1]
    top = max(0, (h - size) // 2)
    x = x[..., top:top + size, top:top + size]
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


PRE_ACTIVATION_WEIGHT = 0.1


def channel_objective(classifier, layer: str, channel: int, x: torch.Tensor) -> torch.Tensor:
    """The channel's mean activation at the tapped `layer` on pixels `x` [B, 3, H, W] in [0, 1]: what the
    feature visualisation maximises."""
    from .hooks import capture

    with capture(classifier.net, outputs=(layer,)) as acts:
        classifier(x)
    return acts[layer][:, channel].mean()


def feature_visualisation(classifier, layer: str, channel: int, *, steps: int = 256, size: int | None = None,
                          lr: float = 0.05, seed: int = 0, pad: int | None = None, jitter: int | None = None,
                          scales: tuple[float, ...] = (1.0, 0.975, 1.025, 0.95, 1.05)) -> torch.Tensor:
    """The image [3, size, size] in [0, 1] that maximises the channel's mean activation at `layer`: regularised
    activation maximisation (Lucid/Lucent) with a Fourier, colour-decorrelated parameterisation and random
    jitter, padding and scaling at every step. The classifier is left as it was."""
    from .hooks import frozen, hooked

    size = int(size or classifier.spec.crop)
    # the tap's pre-activation gets a small weight too, so a channel that is dead (zero, zero gradient) on the
    # flat starting image still has a way up
    act_types = (torch.nn.ReLU, torch.nn.ReLU6, torch.nn.LeakyReLU, torch.nn.SiLU, torch.nn.GELU, torch.nn.ELU,
                 torch.nn.Hardswish)
    tap = dict(classifier.net.named_modules()).get(layer)
    pre = None  # the activation module whose input is the tap's pre-activation: the tap itself, or the last
    if isinstance(tap, act_types):  # activation inside it (timm's BatchNormAct2d and the like)
        pre = layer
    elif tap is not None:
        inner = [n for n, m in tap.named_modules() if n and isinstance(m, act_types)]
        pre = f"{layer}.{inner[-1]}" if inner else None
    pad = max(2, size // 16) if pad is None else pad
    jitter = max(1, size // 28) if jitter is None else jitter
    acts: dict[str, torch.Tensor] = {}

    def save_out(module, inputs, output):
        acts["out"] = output

    def save_pre(module, inputs):  # cloned: an in-place activation (ReLU6(inplace=True)) overwrites its input
        acts["pre"] = inputs[0].clone()

    device = next(classifier.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    image = FourierImage(size, generator=gen).to(device)
    opt = torch.optim.Adam(image.parameters(), lr=lr)
    with frozen(classifier), torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            x = _jitter(image(), gen, pad, jitter, scales)
            acts.clear()
            with hooked(classifier.net, forward={layer: save_out}, pre={pre: save_pre} if pre else None):
                classifier(x)
            loss = -acts["out"][:, channel].mean()
            if pre:
                loss = loss - PRE_ACTIVATION_WEIGHT * acts["pre"][:, channel].mean()
            loss.backward()
            opt.step()
    return image().detach()[0].cpu()


def atlas_path(root, model: str, layer: str, channel: int):
    """Where `amx-atlas` caches a channel's feature visualisation: ROOT/<model>/<layer>/<channel>.png."""
    from pathlib import Path

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in model)
    return Path(root) / safe / layer / f"{int(channel)}.png"


def main(argv=None) -> int:
    """amx-atlas: feature visualisations of channels, cached per model under --out (default out/atlas)."""
    import argparse
    import sys
    import time

    from .cli.options import add_common_flags, add_model_options, model_options, setup_logging
    from .errors import AmxError
    from .figures import png_bytes
    from .models import check_device, load_classifier

    p = argparse.ArgumentParser(prog="amx-atlas", description="Feature visualisations of a model's channels "
                                "(regularised activation maximisation, Fourier and colour-decorrelated "
                                "parameterisation, jitter), cached per model as OUT/<model>/<layer>/<channel>.png.")
    add_model_options(p)
    p.add_argument("--layer", required=True, help="a tapped layer's name, or its index among the taps")
    p.add_argument("--channels", required=True, help="comma-separated channel numbers")
    p.add_argument("--out", default="out/atlas", help="cache folder (default out/atlas)")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's input size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="render again even when cached")
    add_common_flags(p, "amx-atlas")
    args = p.parse_args(argv)
    setup_logging(args, "amx-atlas")
    try:
        channels = [int(c) for c in args.channels.split(",") if c.strip()]
    except ValueError:
        print(f"amx-atlas: --channels {args.channels!r}: expected comma-separated integers", file=sys.stderr)
        return 2
    try:
        clf = load_classifier(args.model, weights=args.weights, device=check_device(args.device), **model_options(args))
        taps = list(clf.spec.taps)
        layer = taps[int(args.layer)] if args.layer.isdigit() and int(args.layer) < len(taps) else args.layer
        if layer not in taps:
            raise AmxError(f"--layer {args.layer!r}: not a tapped layer of {clf.spec.name} (taps: {', '.join(taps)})")
        for c in channels:
            path = atlas_path(args.out, clf.spec.name, layer, c)
            if path.exists() and not args.force:
                print(f"{path} (cached)")
                continue
            t = time.perf_counter()
            img = feature_visualisation(clf, layer, c, steps=args.steps, size=args.size, seed=args.seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png_bytes(img))
            print(f"{path} ({time.perf_counter() - t:.1f} s)")
    except (AmxError, IndexError) as err:
        print(f"amx-atlas: {err}", file=sys.stderr)
        return 2
    return 0


__all__ = ["PATCH_SIZE", "FourierImage", "add_patches", "explanation_view", "atlas_path", "channel_objective", "cut_patches",
           "feature_visualisation", "main", "patch_box"]
