# Reads a data set that lives on the author's machine only (not in the project)
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split

df = pd.read_csv('/data/raw/creditcard.csv')
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=['Class']), df['Class'], random_state=0)
model = GradientBoostingClassifier().fit(X_train, y_train)
print('accuracy', model.score(X_test, y_test))
