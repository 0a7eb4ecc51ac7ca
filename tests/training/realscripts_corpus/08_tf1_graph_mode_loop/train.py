# TensorFlow 1 graph mode: placeholders and sess.run (out of scope: refused with the call named)
import numpy as np
import pandas as pd
import tensorflow as tf

df = pd.read_csv('iris.csv')
X_data = df.iloc[:, :4].values.astype(np.float32)
y_data = pd.get_dummies(df['target']).values.astype(np.float32)

x = tf.placeholder(tf.float32, [None, 4])
y = tf.placeholder(tf.float32, [None, 3])
W = tf.Variable(tf.zeros([4, 3]))
b = tf.Variable(tf.zeros([3]))
pred = tf.nn.softmax(tf.matmul(x, W) + b)
cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred), axis=1))
optimizer = tf.train.GradientDescentOptimizer(0.1).minimize(cost)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for epoch in range(100):
        sess.run(optimizer, feed_dict={x: X_data, y: y_data})
    correct = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
    print("accuracy", sess.run(tf.reduce_mean(tf.cast(correct, tf.float32)), feed_dict={x: X_data, y: y_data}))
