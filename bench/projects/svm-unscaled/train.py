from sklearn import datasets, svm
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

data = datasets.load_wine()
X_tr, X_te, y_tr, y_te = train_test_split(data.data, data.target, random_state=1)
model = svm.SVC(gamma="auto")
model.fit(X_tr, y_tr)
acc = accuracy_score(y_te, model.predict(X_te))
print(f"accuracy {acc:.3f}")
