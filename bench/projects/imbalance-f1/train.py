# Fraud-like data: 3% positives. Accuracy looks great; F1 on the positives is what counts.
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

X, y = make_classification(n_samples=3000, n_features=12, n_informative=4, weights=[0.97, 0.03],
                           class_sep=1.5, flip_y=0.0, random_state=7)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)
clf = LogisticRegression(C=0.01, max_iter=1000)  # strongly regularised, as in the tutorial
clf.fit(X_train, y_train)
pred = clf.predict(X_test)
print("accuracy", accuracy_score(y_test, pred))
print("f1", f1_score(y_test, pred))
