"""Whether two saved Keras models have the same weights to the last bit (``bench/recovery.py``).

Runs in the dl trial virtualenv. Arguments: the two ``model.keras`` files.
"""

import sys

import keras
import numpy as np

a, b = (keras.saving.load_model(path) for path in sys.argv[1:3])
d = max(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))
print("yes" if d == 0 else f"no (max weight difference {d:.2e})")
