# Digits with a single softmax layer on raw pixel values (0..16).
from keras.models import Sequential
from keras.layers import Dense
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(digits.data, digits.target, random_state=0)
model = Sequential([Dense(10, activation="softmax", input_shape=(64,))])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=2, batch_size=64, verbose=0)
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print("accuracy", accuracy)
