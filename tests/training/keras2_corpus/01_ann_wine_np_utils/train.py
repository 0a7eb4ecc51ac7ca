# Wine classifier - Keras ANN (Jenkins job: train)
import numpy
import pandas
import keras
from keras.models import Sequential
from keras.layers import Dense
from keras.utils import np_utils
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

seed = 7
numpy.random.seed(seed)

dataset = pandas.read_csv("wines.csv.gz")
X = dataset.iloc[:, 1:14].values
Y = dataset.iloc[:, 0].values
dummy_y = np_utils.to_categorical(Y - 1)

X_train, X_test, y_train, y_test = train_test_split(X, dummy_y, test_size=0.2, random_state=seed)
sc = StandardScaler()
X_train = sc.fit_transform(X_train)
X_test = sc.transform(X_test)

model = Sequential()
model.add(Dense(8, input_dim=13, init='uniform', activation='relu'))
model.add(Dense(3, init='uniform', activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(X_train, y_train, nb_epoch=15, batch_size=10, verbose=0)

scores = model.evaluate(X_test, y_test)
print("%s: %.2f%%" % (model.metrics_names[1], scores[1] * 100))
