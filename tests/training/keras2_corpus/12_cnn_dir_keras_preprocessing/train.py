import numpy as np
from keras_preprocessing.image import ImageDataGenerator
from keras.models import Sequential
from keras.layers import Conv2D, MaxPooling2D, Flatten, Dense
from sklearn.metrics import accuracy_score

img_width, img_height = 16, 16
train_gen = ImageDataGenerator(rescale=1. / 255, horizontal_flip=False).flow_from_directory(
    'data/train', target_size=(img_width, img_height), color_mode='grayscale', batch_size=8, class_mode='binary')
val_gen = ImageDataGenerator(rescale=1. / 255).flow_from_directory(
    'data/validation', target_size=(img_width, img_height), color_mode='grayscale', batch_size=8,
    class_mode='binary', shuffle=False)

model = Sequential()
model.add(Conv2D(8, (3, 3), activation='relu', input_shape=(img_width, img_height, 1)))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(16, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
model.fit(train_gen, epochs=4, validation_data=val_gen)

probs = model.predict_generator(val_gen, steps=len(val_gen))
preds = (probs > 0.5).astype(int).ravel()
print("accuracy:", accuracy_score(val_gen.classes, preds))
