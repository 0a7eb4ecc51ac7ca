"""Rewrites of the user's script that the tuning loop tries: scaling, layers, units, epochs, convolutions,
scikit-learn hyper-parameters and estimator families."""

from __future__ import annotations

from training.tweaks._apply import SkipTweak, TweakOutcome, apply_config
from training.tweaks._inspect import ScriptInfo, inspect_script

__all__ = ["ScriptInfo", "SkipTweak", "TweakOutcome", "apply_config", "inspect_script"]
