import os
import pandas as pd
import tensorflow as tf
from keras import backend as K
from keras.models import Sequential
from keras.layers import Dense, Dropout
from keras.utils import to_categorical
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

tf.logging.set_verbosity(tf.logging.ERROR)
os.environ['PYTHONHASHSEED'] = '0'
session_conf = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
session_conf.gpu_options.allow_growth = True
tf.set_random_seed(1234)
sess = tf.Session(graph=tf.get_default_graph(), config=session_conf)
K.set_session(sess)

df = pd.read_csv('iris.csv')
X = MinMaxScaler().fit_transform(df.drop(columns=['target']).values)
y = to_categorical(df['target'].values)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=3)

model = Sequential([Dense(32, activation='relu', input_shape=(4,)), Dropout(0.1), Dense(3, activation='softmax')])
model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
sess.run(tf.global_variables_initializer())
model.fit(X_train, y_train, validation_split=0.1, epochs=40, batch_size=8, verbose=2)
loss, acc = model.evaluate(X_test, y_test, verbose=0)
print('Test accuracy:', acc)
