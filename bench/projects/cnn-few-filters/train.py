import numpy as np
from keras import layers, models
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
images = digits.images[..., np.newaxis] / 16.0
X_train, X_test, y_train, y_test = train_test_split(images, digits.target, test_size=0.25, random_state=2)

def build_model():
    model = models.Sequential()
    model.add(layers.Conv2D(1, (3, 3), activation="relu", input_shape=(8, 8, 1)))
    model.add(layers.Flatten())
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

model = build_model()
model.fit(X_train, y_train, epochs=3, validation_split=0.1, verbose=0)
print("accuracy", model.evaluate(X_test, y_test, verbose=0)[1])
