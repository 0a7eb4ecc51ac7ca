import numpy as np
from keras import backend as K
from keras.models import Sequential
from keras.layers import Convolution2D, MaxPooling2D, Dense, Flatten, Activation
from keras.utils import np_utils
from sklearn.datasets import load_digits

K.set_image_dim_ordering('tf')
np.random.seed(123)

digits = load_digits()
X = digits.images.reshape(digits.images.shape[0], 8, 8, 1).astype('float32') / 16
Y = np_utils.to_categorical(digits.target, 10)
X_train, Y_train = X[:1400], Y[:1400]
X_test, Y_test = X[1400:], Y[1400:]

model = Sequential()
model.add(Convolution2D(32, 3, 3, border_mode='same', input_shape=(8, 8, 1)))
model.add(Activation('relu'))
model.add(Convolution2D(32, 3, 3, border_mode='same'))
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(64, activation='relu'))
model.add(Dense(10, activation='softmax'))

model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(X_train, Y_train, batch_size=32, nb_epoch=5, verbose=1)
score = model.evaluate(X_test, Y_test, verbose=0)
print(score)
