# Keras 2.2 internals: a module path no Keras has kept (refused, naming the module and the installed Keras)
import pandas as pd
from keras.engine.saving import load_weights_from_hdf5_group
from keras.models import Sequential
from keras.layers import Dense

df = pd.read_csv('iris.csv')
model = Sequential([Dense(3, input_dim=4, activation='softmax')])
model.compile(loss='sparse_categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(df.iloc[:, :4].values, df['target'].values, epochs=2, verbose=0)
print('accuracy', model.evaluate(df.iloc[:, :4].values, df['target'].values, verbose=0)[1])
