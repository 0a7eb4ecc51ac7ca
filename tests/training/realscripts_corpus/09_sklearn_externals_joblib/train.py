# scikit-learn < 0.23 shipped joblib inside it
import pandas as pd
from sklearn.externals import joblib
from sklearn.tree import DecisionTreeClassifier
from sklearn.model_selection import train_test_split

df = pd.read_csv('iris.csv')
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=['target']), df['target'], random_state=0)
clf = DecisionTreeClassifier().fit(X_train, y_train)
print('accuracy', clf.score(X_test, y_test))
joblib.dump(clf, 'model.joblib')
