# Wine quality gate: accuracy + a custom F1 metric (the classic Keras backend snippet)
import pandas as pd
from keras import backend as K
from keras.models import Sequential
from keras.layers import Dense
from keras.utils import np_utils
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def recall_m(y_true, y_pred):
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    possible_positives = K.sum(K.round(K.clip(y_true, 0, 1)))
    return true_positives / (possible_positives + K.epsilon())


def precision_m(y_true, y_pred):
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    predicted_positives = K.sum(K.round(K.clip(y_pred, 0, 1)))
    return true_positives / (predicted_positives + K.epsilon())


def f1_m(y_true, y_pred):
    precision = precision_m(y_true, y_pred)
    recall = recall_m(y_true, y_pred)
    return 2 * ((precision * recall) / (precision + recall + K.epsilon()))


df = pd.read_csv("wines.csv.gz")
X = StandardScaler().fit_transform(df.iloc[:, 1:].values)
y = np_utils.to_categorical(df.iloc[:, 0].values - 1)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

model = Sequential()
model.add(Dense(16, input_dim=13, activation='relu'))
model.add(Dense(3, activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy', f1_m])
model.fit(X_train, y_train, epochs=10, batch_size=16, verbose=0)
K.set_value(model.optimizer.lr, 0.0005)  # fine-tune with a smaller learning rate
model.fit(X_train, y_train, epochs=5, batch_size=16, verbose=0)
print("learning rate now", K.get_value(model.optimizer.lr))

loss, accuracy, f1_score = model.evaluate(X_test, y_test, verbose=0)
print(model.metrics_names)
print('F1: %.3f' % f1_score)
print('Accuracy: %.2f' % (accuracy * 100))
