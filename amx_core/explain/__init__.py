"""The explainer: a binary mask m per image such that e = m*x keeps the classifier's prediction and its
intermediate activations, the smallest such mask chosen on an area ladder and checked over random
backgrounds. Two ways to get it: `explain` optimises a generator per image; `explain_amortised` runs one
generator trained over many images (`train_masker`, saved and read back with `load_masker`).

    objective.py    the paper's loss terms and their weighted sum
    selection.py    area-controlled mask logits, the ladder search for the binary mask, its report
    explanation.py  the result record, `Explanation`
    explainer.py    the per-image explainer
    amortised.py    the shared generator: training, masker files, amortised explanations
    masker.py       the U-Net mask generator
"""

from .amortised import Masker, MaskerFileError, explain_amortised, load_masker, teacher_masks_of, train_masker
from .explainer import Progress, explain
from .explanation import Explanation

__all__ = ["Explanation", "Masker", "MaskerFileError", "Progress", "explain", "explain_amortised", "load_masker",
           "teacher_masks_of", "train_masker"]
