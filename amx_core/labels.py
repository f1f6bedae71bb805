"""Class names: the ImageNet names torchvision ships, a user's labels file, and `--class` resolution.

A labels file holds one class name per line (index = line number, from 0), or a JSON list of names.
Names must be distinct (case-insensitively: `--class` folds case, and the store keys classes by name).
A head that is not 1000-way and comes without labels gets the names "class 0", "class 1", ...
"""

from __future__ import annotations

import difflib
import json
import logging
from functools import lru_cache
from pathlib import Path

from .errors import AmxError, UnknownClassError

log = logging.getLogger(__name__)

IMAGENET_SIZE = 1000


@lru_cache(maxsize=1)
def _imagenet() -> tuple[str, ...]:
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names as torchvision ships them (no download)."""
    return list(_imagenet())


def numbered_classes(n: int) -> list[str]:
    return [f"class {i}" for i in range(n)]


def read_labels(path: str | Path) -> list[str]:
    """Class names from a file: one per line, or a JSON list of strings. One clear line when it is not."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AmxError(f"labels file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AmxError(f"labels file {path} cannot be read as text ({exc})") from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AmxError(f"labels file {path} starts like a JSON list but is not one ({exc})") from None
        if not all(isinstance(n, str) for n in names):
            raise AmxError(f"labels file {path}: the JSON list must hold strings (class names)")
        names = [n.strip() for n in names]
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
    return check_labels(names, where=f"labels file {path}")


def check_labels(names, *, where: str = "labels") -> list[str]:
    names = [str(n).strip() for n in names]
    if not names:
        raise AmxError(f"{where} holds no class names")
    for i, n in enumerate(names):
        if not n:
            raise AmxError(f"{where}: class {i} has an empty name (one name per line, no blank lines)")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n.casefold() in seen:
            raise AmxError(f"{where}: {n!r} is given twice (classes {seen[n.casefold()]} and {i}); names must differ")
        seen[n.casefold()] = i
    return names


def class_names(n: int, labels=None, *, model: str = "the model") -> list[str]:
    """The names of an `n`-way head: `labels` (a list or a file) when given, else ImageNet's for a 1000-way
    head, else "class 0".."class n-1" with a warning."""
    if labels is not None:
        given = read_labels(labels) if isinstance(labels, str | Path) else check_labels(labels)
        if len(given) != n:
            where = f"labels file {labels}" if isinstance(labels, str | Path) else "labels"
            raise AmxError(f"{where} has {len(given)} class names, the head of {model} has {n} outputs")
        return given
    if n == IMAGENET_SIZE:
        return imagenet_classes()
    log.warning("%s has a %d-way head and no labels (--labels FILE): its classes are named 'class 0'..'class %d'",
                model, n, n - 1)
    return numbered_classes(n)


def resolve_class(name_or_index: str | int, classes: list[str] | None = None) -> int:
    """`EntleBucher`, `entlebucher` or `241` -> 241; an unknown name lists the closest matches."""
    imagenet = classes is None or tuple(classes) == _imagenet()
    classes = classes or imagenet_classes()
    text = str(name_or_index).strip()
    folded = {c.casefold(): i for i, c in enumerate(classes)}
    key = text.replace("_", " ").casefold()
    for candidate in (text.casefold(), key):
        if candidate in folded:  # a name first: labels may themselves be numbers
            return folded[candidate]
    if text.lstrip("-").isdigit():
        idx = int(text)
        if not 0 <= idx < len(classes):
            raise UnknownClassError(f"class index {idx} is outside 0..{len(classes) - 1}")
        return idx
    close = difflib.get_close_matches(key, list(folded), n=5, cutoff=0.5)
    hint = ", ".join(classes[folded[c]] for c in close) if close else "none close"
    kind = "ImageNet classes" if imagenet else "classes"
    raise UnknownClassError(f"unknown class {text!r}; closest {kind}: {hint}")


__all__ = ["imagenet_classes", "numbered_classes", "read_labels", "check_labels", "class_names", "resolve_class"]
