# Keras 3 style: keras.Input, keras.ops, native .keras format.
import keras
from keras import layers, ops
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X = X.reshape(-1, 8, 8, 1).astype("float32") / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

inputs = keras.Input(shape=(8, 8, 1))
x = layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(32, activation="relu")(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(X_train, y_train, epochs=8, batch_size=32, validation_split=0.1, verbose=2)

pred = ops.argmax(model.predict(X_test, verbose=0), axis=-1)
accuracy = float(ops.mean(ops.cast(pred == y_test, "float32")))
print(f"accuracy: {accuracy:.4f}")
model.save("digits.keras")
