import numpy as np
from keras.models import Sequential
from keras.layers import Conv2D, Dense, Flatten
from keras.layers.normalization import BatchNormalization
from keras.layers.advanced_activations import LeakyReLU
from keras.optimizers import Adam
from keras.callbacks import ModelCheckpoint
from keras.utils import to_categorical
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

d = load_digits()
X = d.images.reshape(-1, 8, 8, 1) / 16.0
y = to_categorical(d.target, 10)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=11)

model = Sequential()
model.add(Conv2D(16, (3, 3), input_shape=(8, 8, 1)))
model.add(BatchNormalization())
model.add(LeakyReLU(alpha=0.1))
model.add(Flatten())
model.add(Dense(10, activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer=Adam(lr=1e-3), metrics=['acc'])

checkpoint = ModelCheckpoint('best_model.h5', monitor='val_acc', verbose=1, save_best_only=True, mode='max')
model.fit(X_train, y_train, epochs=5, batch_size=32, validation_data=(X_val, y_val), callbacks=[checkpoint])
model.save_weights('weights.h5')
model.load_weights('weights.h5')
loss, acc = model.evaluate(X_val, y_val)
print('Validation accuracy: {:.2f}%'.format(acc * 100))
