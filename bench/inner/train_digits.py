"""Train a small Keras CNN on scikit-learn's 8x8 digits and save it as a served model folder (``bench/serving``).

Runs in the dl serving virtualenv. Arguments: the model folder to write, the epochs.
"""

import json
import sys
from pathlib import Path

import keras
from sklearn.datasets import load_digits

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
digits = load_digits()
X = (digits.images / 16.0).astype("float32")[..., None]
keras.utils.set_random_seed(0)
layers = keras.layers
model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(16, 3, activation="relu", padding="same"),
                          layers.MaxPooling2D(), layers.Flatten(), layers.Dense(32, activation="relu"),
                          layers.Dense(10, activation="softmax")])
model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
model.fit(X, keras.utils.to_categorical(digits.target, 10), epochs=int(sys.argv[2]), batch_size=32, verbose=0)
model.save(out / "model.keras")
(out / "model.json").write_text(json.dumps({"project": "digits-bench", "version": 1, "format": "keras"}))
