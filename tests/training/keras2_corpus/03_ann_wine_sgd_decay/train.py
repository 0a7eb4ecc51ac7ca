import numpy as np
import pandas as pd
import keras
from keras.models import Sequential
from keras.layers import Dense, Dropout
from keras.optimizers import SGD
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

data = pd.read_csv("wines.csv.gz")
X = StandardScaler().fit_transform(data.iloc[:, 1:].values)
y = keras.utils.to_categorical(data.iloc[:, 0].values - 1, num_classes=3)
x_train, x_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=1)

model = Sequential()
model.add(Dense(32, activation='relu', input_dim=13))
model.add(Dropout(0.2))
model.add(Dense(3, activation='softmax'))

sgd = SGD(lr=0.05, decay=1e-6, momentum=0.9, nesterov=True)
model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['acc'])
history = model.fit(x_train, y_train, epochs=20, batch_size=16, validation_data=(x_val, y_val), verbose=0)

val_acc = history.history['val_acc'][-1]
print("val_acc:", val_acc)
model.save('model.h5')
