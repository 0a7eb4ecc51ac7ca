"""Rewrites of the user's script that the tuning loop tries: scaling, layers, units, epochs, convolutions,
scikit-learn hyper-parameters and estimator families, and the remedies the diagnosis picks (learning rate,
optimizer, activation, dropout, L2, early stopping, augmentation, class weights, threshold, feature crosses).

Each tweak is one class registered with ``@register`` (``_base.py``); the registry gives the tweak space
(``tweak_choices``) and ``apply_config`` rewrites a script for one configuration. Both read the script through
the shared analysis (``analyze``).
"""

from __future__ import annotations

from training.analysis import ScriptAnalysis, analyze
from training.tweaks._base import TWEAKS, SkipTweak, Tweak, find_tweak, register, tweak_choices

# The family modules register their tweaks on import; this order is the order of keys in a tweak space.
from training.tweaks import _scale, _sklearn, _keras, _optim, _regularise, _balance  # noqa: F401  isort: skip
from training.tweaks._apply import TweakOutcome, apply_config

__all__ = ["TWEAKS", "ScriptAnalysis", "SkipTweak", "Tweak", "TweakOutcome", "analyze", "apply_config",
           "find_tweak", "register", "tweak_choices"]
