# Part 1 - Building the CNN
from keras.models import Sequential
from keras.layers import Convolution2D
from keras.layers import MaxPooling2D
from keras.layers import Flatten
from keras.layers import Dense

classifier = Sequential()
classifier.add(Convolution2D(16, (3, 3), input_shape=(16, 16, 3), activation='relu'))
classifier.add(MaxPooling2D(pool_size=(2, 2)))
classifier.add(Flatten())
classifier.add(Dense(units=32, activation='relu'))
classifier.add(Dense(units=3, activation='softmax'))
classifier.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

# Part 2 - Fitting the CNN to the images
from keras.preprocessing.image import ImageDataGenerator

train_datagen = ImageDataGenerator(rescale=1./255, shear_range=0.1, zoom_range=0.1)
test_datagen = ImageDataGenerator(rescale=1./255)
training_set = train_datagen.flow_from_directory('dataset/training_set', target_size=(16, 16),
                                                 batch_size=16, class_mode='categorical')
test_set = test_datagen.flow_from_directory('dataset/test_set', target_size=(16, 16),
                                            batch_size=16, class_mode='categorical', shuffle=False)
classifier.fit_generator(training_set, steps_per_epoch=len(training_set), epochs=5,
                         validation_data=test_set, validation_steps=len(test_set))
classifier.save('model.h5')

scores = classifier.evaluate_generator(test_set, steps=len(test_set))
accuracy = scores[1] * 100
with open('accuracy.txt', 'w') as f:
    f.write(str(accuracy))
print('accuracy', accuracy)
