"""AMX Circuits core: explain an image with a binary mask that keeps a frozen classifier's prediction and
intermediate activations (activation matching), then read the circuit that carries the decision.

    import amx_core as amx
    clf = amx.load_classifier("efficientnet_lite0")      # or amx.wrap_model(my_module, labels=[...])
    pixels = clf.preprocess(amx.load_image("cheetah.jpg"))
    [ex] = amx.explain(clf, pixels[None], config="compact")
    circuit = amx.read_circuit(clf, pixels, ex.mask, class_index=ex.target)

The names are resolved lazily, so `import amx_core.circuit` (the explorer's view of the data model) never
imports torch. The store (`open_store`) lives in `cypher`: the method knows nothing of storage.
"""

import sys
import types
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "load_classifier": "amx_core.models",
    "wrap_model": "amx_core.models",
    "Classifier": "amx_core.models",
    "ModelSpec": "amx_core.models",
    "imagenet_classes": "amx_core.labels",
    "resolve_class": "amx_core.labels",
    "read_labels": "amx_core.labels",
    "find_taps": "amx_core.taps",
    "load_image": "amx_core.images",
    "ExplainConfig": "amx_core.config",
    "PRESETS": "amx_core.config",
    "get_preset": "amx_core.config",
    "for_taps": "amx_core.config",
    "explain": "amx_core.explain",
    "Explanation": "amx_core.explain",
    "explain_amortised": "amx_core.explain",
    "train_masker": "amx_core.explain",
    "load_masker": "amx_core.explain",
    "teacher_masks_of": "amx_core.explain",
    "read_circuit": "amx_core.readout",
    "ReadoutConfig": "amx_core.readout",
    "read_verified_circuits": "amx_core.readout",
    "Circuit": "amx_core.circuit",
    "edge_jaccard": "amx_core.circuit",
    "node_jaccard": "amx_core.circuit",
    "explain_settings": "amx_core.pipeline",
    "explain_and_read": "amx_core.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


class _Package(types.ModuleType):
    """`amx_core.explain` is the function `explain`, also after the subpackage of the same name has been
    imported (the import system then sets the package attribute to the subpackage; here that is ignored:
    `import amx_core.explain` and `from amx_core.explain import ...` still work through sys.modules)."""

    @property
    def explain(self):
        from .explain import explain

        return explain

    @explain.setter
    def explain(self, _value) -> None:
        pass


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amx_core' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
