import pandas as pd
from sklearn.svm import SVC
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.model_selection import train_test_split

DATA = '/mycode/data/wines.csv'
wine = pd.read_csv(DATA)
X_train, X_test, y_train, y_test = train_test_split(wine.drop(columns=['Class']), wine['Class'], random_state=2)
svm = make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train)
print("accuracy = {}".format(svm.score(X_test, y_test)))
