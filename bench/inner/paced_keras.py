"""A Keras trial paced at about a second per epoch, writing the epoch it starts to ``epoch_started`` in its work
folder, so that ``bench/recovery.py`` can kill it between checkpoints. Argument: ``--epochs N`` (default 16)."""

import argparse
import time
from pathlib import Path

import keras
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=16)
epochs = parser.parse_args().epochs
rng = np.random.default_rng(0)
X = rng.normal(size=(600, 8))
y = (X[:, 0] + X[:, 1] - X[:, 2] > 0).astype(int)
m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                      keras.layers.Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy", metrics=["accuracy"])


class Pace(keras.callbacks.Callback):
    """Marks each epoch's start; makes each epoch last long enough to be killed in."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        Path("epoch_started").write_text(str(epoch))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        time.sleep(0.8)


m.fit(X, y, epochs=epochs, batch_size=32, validation_split=0.2, shuffle=False, verbose=0, callbacks=[Pace()])
m.evaluate(X, y, verbose=0)
