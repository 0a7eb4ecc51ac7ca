# Chapter 4 of the book's repository: the data sets are in ../Dataset
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import train_test_split

iris = pd.read_csv('../Dataset/iris.csv')
X = iris.iloc[:, :4].values
y = iris['target'].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
knn = KNeighborsClassifier(n_neighbors=3)
knn.fit(X_train, y_train)
print('Test accuracy: {:.3f}'.format(knn.score(X_test, y_test)))
