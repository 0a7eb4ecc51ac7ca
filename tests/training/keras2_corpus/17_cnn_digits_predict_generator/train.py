import numpy as np
import keras
from keras.preprocessing.image import ImageDataGenerator
from keras.layers import Convolution2D, MaxPooling2D, Flatten, Dense
from keras.models import Sequential
from keras.utils import np_utils
from sklearn.datasets import load_digits

digits = load_digits()
X = digits.images.reshape((-1, 8, 8, 1)).astype('float32') / 16.
Y = np_utils.to_categorical(digits.target, 10)
X_train, X_test, Y_train, Y_test = X[:1300], X[1300:], Y[:1300], Y[1300:]

model = Sequential()
model.add(Convolution2D(nb_filter=16, nb_row=3, nb_col=3, border_mode='same', activation='relu',
                        input_shape=(8, 8, 1)))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(10, activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])

gen = ImageDataGenerator()
model.fit_generator(gen.flow(X_train, Y_train, batch_size=32), samples_per_epoch=len(X_train), nb_epoch=4,
                    validation_data=gen.flow(X_test, Y_test, batch_size=32), nb_val_samples=len(X_test))

predictions = model.predict_generator(gen.flow(X_test, batch_size=32, shuffle=False), steps=int(np.ceil(len(X_test) / 32)))
accuracy = np.mean(np.argmax(predictions, axis=1) == np.argmax(Y_test, axis=1))
print("Accuracy: " + str(round(accuracy * 100, 2)) + "%")
model.save('digits.pk1')
