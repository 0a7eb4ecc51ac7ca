import pandas as pd
from keras.models import Sequential
from keras.layers.core import Dense, Dropout, Activation
from keras.optimizers import Adam
from keras.utils.np_utils import to_categorical
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

df = pd.read_csv('wines.csv.gz')
y = to_categorical(df['Class'].values - 1, 3)
X = MinMaxScaler().fit_transform(df.drop('Class', axis=1).values)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42)

model = Sequential()
model.add(Dense(output_dim=32, input_dim=13, init='normal'))
model.add(Activation('relu'))
model.add(Dropout(0.1))
model.add(Dense(output_dim=3, init='normal'))
model.add(Activation('softmax'))
model.compile(optimizer=Adam(lr=0.01), loss='categorical_crossentropy', metrics=['accuracy'])
model.fit(X_train, y_train, nb_epoch=20, batch_size=16, verbose=2)

loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
with open('accuracy.txt', 'w') as f:
    f.write(str(accuracy * 100))
print(accuracy * 100)
