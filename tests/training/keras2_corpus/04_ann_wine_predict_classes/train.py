# trains the wine model and stores it for the deploy job
import pandas as pd
from keras.models import Sequential
from keras.layers import Dense
from keras.utils import to_categorical
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

dataset = pd.read_csv('wines.csv.gz')
X = dataset.iloc[:, 1:].values
y = dataset.iloc[:, 0].values - 1
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
sc = StandardScaler()
X_train = sc.fit_transform(X_train)
X_test = sc.transform(X_test)

model = Sequential()
model.add(Dense(units=16, activation='relu', input_dim=13))
model.add(Dense(units=3, activation='softmax'))
model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
model.fit(X_train, to_categorical(y_train), batch_size=8, epochs=15, verbose=0)

y_pred = model.predict_classes(X_test)
acc = accuracy_score(y_test, y_pred)
print("Accuracy is", acc * 100)
model.save('model.pk1')
