# Keras 2 style (2019): a deep stack of sigmoid layers trained with plain SGD.
from keras.models import Sequential
from keras.layers import Dense
from keras.utils import np_utils
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
X = digits.data / 16.0
Y = np_utils.to_categorical(digits.target, 10)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, random_state=1)

model = Sequential()
model.add(Dense(32, input_dim=64, activation="sigmoid"))
for _ in range(7):
    model.add(Dense(32, activation="sigmoid"))
model.add(Dense(10, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
model.fit(X_train, Y_train, nb_epoch=10, batch_size=32, verbose=0)
scores = model.evaluate(X_test, Y_test, verbose=0)
print("Accuracy: %.2f%%" % (scores[1] * 100))
