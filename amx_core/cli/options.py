"""Options every console script shares: which model (and its labels, taps, head, preprocessing), and
--version / --quiet / --verbose. Library code logs through `logging`; `setup_logging` decides what a
console script shows (warnings by default, to stderr)."""

from __future__ import annotations

import argparse
import logging
import sys

MODEL_HELP = ("classifier: a built-in name (efficientnet_lite0 (default), resnet18, resnet50, mobilenet_v3_large, "
              "vgg16), timm:NAME, torchvision:NAME, or a factory path/to/file.py:function or package.module:function "
              "returning an nn.Module")


def add_model_options(p: argparse.ArgumentParser, *, default: str = "efficientnet_lite0") -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=default, help=MODEL_HELP)
    g.add_argument("--weights", default=None,
                   help="a state-dict file for the model (default: the built-in or library weights; a factory "
                        "keeps its own); 'random' for structure only")
    g.add_argument("--labels", default=None,
                   help="class names, one per line or a JSON list (default: ImageNet's for a 1000-way head, "
                        "else 'class 0'..)")
    g.add_argument("--taps", default=None,
                   help="comma-separated layer names to tap, earliest first (default: found automatically, "
                        "up to five stage outputs after their activation)")
    g.add_argument("--head", default=None, help="the classifier head's module name (default: the last nn.Linear)")
    g.add_argument("--input-size", type=int, default=None, help="input side in pixels (default: the model's)")
    g.add_argument("--resize", type=int, default=None,
                   help="shorter side before the centre crop (default: the model's, or input-size/0.875)")
    g.add_argument("--mean", default=None, help="normalisation mean, R,G,B (default: the model's)")
    g.add_argument("--std", default=None, help="normalisation std, R,G,B (default: the model's)")


def model_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of `load_classifier` besides the name, weights and device."""
    return {k: getattr(args, k) for k in ("labels", "taps", "head", "input_size", "mean", "std", "resize")
            if getattr(args, k, None) is not None}


def version_text(prog: str) -> str:
    from .. import __version__

    return f"{prog} {__version__}"


def add_common_flags(p: argparse.ArgumentParser, prog: str) -> None:
    p.add_argument("--version", action="version", version=version_text(prog))
    p.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr (no warnings)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more messages on stderr (-v info, -vv debug)")


class _Stderr(logging.Handler):
    """Writes to the sys.stderr of the moment (a test's captured stream, a notebook's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(args: argparse.Namespace, prog: str) -> None:
    """Library messages to stderr as "PROG: warning: ...": warnings (default), errors only (--quiet),
    info/debug (-v/-vv)."""
    verbose = getattr(args, "verbose", 0) or 0
    level = logging.ERROR if getattr(args, "quiet", False) else \
        logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    root = logging.getLogger("amx_core")
    root.setLevel(level)
    for h in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(_OneLine(prog))
    root.addHandler(handler)


class _OneLine(logging.Formatter):
    def __init__(self, prog: str):
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prog}: {record.levelname.lower()}: {record.getMessage()}"


__all__ = ["add_model_options", "model_options", "add_common_flags", "setup_logging", "version_text"]
