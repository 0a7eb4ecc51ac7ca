# Seed style: pandas, .values, Keras 2 imports, accuracy printed as a percentage.
import pandas as pd
from sklearn.model_selection import train_test_split
from keras.models import Sequential
from keras.layers import Dense
from keras.utils import to_categorical

df = pd.read_csv("wines.csv.gz")
X = df.drop(columns=["Class"])
y = to_categorical(df["Class"].values - 1)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1)

model = Sequential()
model.add(Dense(6, input_dim=13, activation="relu"))
model.add(Dense(3, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X_train.values.astype("float32"), y_train, epochs=15, batch_size=16, verbose=0)
scores = model.evaluate(X_test.values.astype("float32"), y_test, verbose=0)
print("Accuracy: %.2f%%" % (scores[1] * 100))
