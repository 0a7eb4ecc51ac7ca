import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import tensorflow as tf

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=5)
sc = StandardScaler()
X_train = sc.fit_transform(X_train)
X_test = sc.transform(X_test)

model = tf.keras.models.Sequential([
    tf.keras.layers.Dense(4, activation="relu", input_shape=(30,)),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.001), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(X_train, y_train, epochs=3, batch_size=32, verbose=0)
print("test acc", model.evaluate(X_test, y_test, verbose=0)[1])
