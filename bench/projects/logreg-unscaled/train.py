import warnings
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

warnings.filterwarnings("ignore")
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=3)
lr = LogisticRegression(max_iter=5)
lr.fit(X_train, y_train)
print("Accuracy: %.2f%%" % (lr.score(X_test, y_test) * 100))
