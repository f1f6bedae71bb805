"""Circuit readout: from one forward pass of an image (original) or of its explanation e = m*x, keep
the most energetic (or, with flow selection, the most class-relevant) channels at each tapped layer as
nodes, weight edges between successive taps and links from the last tap to the class logits, and verify
a circuit by ablating channels.

    selection.py   channel scores and node selection
    surrogate.py   the classifier's linear surrogate: composed (optionally gated, signed) path weights
    reader.py      ReadoutConfig, read_circuit, circuit_channels
    ablation.py    verification by intervention: sufficiency, necessity, curves, edge fidelity
"""

from .ablation import (
    ABLATION_MODES,
    curve_metrics,
    dataset_reference,
    edge_fidelity,
    read_verified_circuits,
    sufficiency_curve,
    verify_circuit,
)
from .reader import (
    ATTRIBUTE_TO,
    DEFAULT_READOUT,
    INGRESS_MODES,
    PAPER_READOUT,
    ReadoutConfig,
    circuit_channels,
    read_circuit,
)
from .selection import ENERGIES, SELECTIONS, channel_scores, select_channels
from .surrogate import abs_surrogate, composed_ingress

__all__ = [
    "ReadoutConfig", "DEFAULT_READOUT", "PAPER_READOUT", "ATTRIBUTE_TO", "INGRESS_MODES", "SELECTIONS", "ENERGIES", "read_circuit", "circuit_channels",
    "channel_scores", "select_channels", "composed_ingress", "abs_surrogate",
    "ABLATION_MODES", "read_verified_circuits", "verify_circuit", "sufficiency_curve", "curve_metrics",
    "edge_fidelity", "dataset_reference",
]
