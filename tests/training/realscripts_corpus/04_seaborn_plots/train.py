import pandas as pd
import matplotlib.pyplot as plt
import seaborn as sns
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split

df = pd.read_csv('iris.csv')
sns.pairplot(df, hue='target', height=1.2)
plt.savefig('pairplot.png')
X_train, X_test, y_train, y_test = train_test_split(df.drop(columns=['target']), df['target'], random_state=0)
model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
pred = model.predict(X_test)
sns.heatmap(confusion_matrix(y_test, pred), annot=True)
plt.savefig('confusion.png')
print("accuracy", accuracy_score(y_test, pred))
