# Multiclass classification with the scikit-learn wrapper, k-fold cross validation
import numpy
import pandas
from keras.models import Sequential
from keras.layers import Dense
from keras.wrappers.scikit_learn import KerasClassifier
from keras.utils import np_utils
from sklearn.model_selection import cross_val_score, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

dataframe = pandas.read_csv("wines.csv.gz")
dataset = dataframe.values
X = dataset[:, 1:14].astype(float)
Y = dataset[:, 0].astype(int) - 1
dummy_y = np_utils.to_categorical(Y)


def baseline_model():
    model = Sequential()
    model.add(Dense(8, input_dim=13, activation='relu'))
    model.add(Dense(3, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


estimator = Pipeline([('scale', StandardScaler()),
                      ('mlp', KerasClassifier(build_fn=baseline_model, epochs=10, batch_size=8, verbose=0))])
kfold = KFold(n_splits=3, shuffle=True, random_state=7)
results = cross_val_score(estimator, X, dummy_y, cv=kfold)
print("Baseline: %.2f%% (%.2f%%)" % (results.mean() * 100, results.std() * 100))
