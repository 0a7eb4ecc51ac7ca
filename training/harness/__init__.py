"""The harness: runs a user's training script unchanged, captures its metrics and model.

This package is shipped as a whole (with ``training/__init__.py``) into every trial environment, so it
imports only the standard library at start-up; Keras and scikit-learn hooks are installed when the user's
script imports them. Run it as ``python -m training.harness --project DIR --entry train.py --run-dir DIR``.
"""

from __future__ import annotations

from pathlib import Path

#: The folder of this package: what a backend copies into a trial environment (with ``training/__init__.py``).
PACKAGE_DIR = Path(__file__).resolve().parent
