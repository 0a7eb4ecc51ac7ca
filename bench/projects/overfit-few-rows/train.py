# pandas + tf.keras: a wide net trained long on 120 rows.
import pandas as pd
import tensorflow as tf
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

data = load_breast_cancer(as_frame=True)
df = data.frame.sample(n=240, random_state=3)
X = df.drop(columns=["target"])
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=120, random_state=3, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

model = tf.keras.Sequential([
    tf.keras.layers.Dense(256, activation="relu", input_shape=(30,)),
    tf.keras.layers.Dense(256, activation="relu"),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(X_train, y_train.values, epochs=150, batch_size=16, validation_split=0.2, verbose=0)
print("test accuracy", model.evaluate(X_test, y_test.values, verbose=0)[1])
