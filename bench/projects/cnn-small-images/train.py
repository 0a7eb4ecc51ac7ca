# Keras 3 CNN on 150 small digit images: it learns the training images by heart.
import numpy as np
import keras
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
images = (digits.images / 16.0)[..., np.newaxis].astype("float32")
X_train, X_test, y_train, y_test = train_test_split(images, digits.target, train_size=150, test_size=600,
                                                    random_state=4, stratify=digits.target)
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(32, 3, activation="relu", padding="same"),
    layers.Flatten(),
    layers.Dense(128, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=60, batch_size=16, validation_split=0.2, verbose=0)
print("accuracy", model.evaluate(X_test, y_test, verbose=0)[1])
