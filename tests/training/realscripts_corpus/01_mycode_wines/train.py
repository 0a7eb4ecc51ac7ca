# Written for the seed job's container, which copies the code to /mycode.
import pandas as pd
import joblib
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

df = pd.read_csv('/mycode/wines.csv')
X = df.drop(columns=['Class'])
y = df['Class']
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=1)
model = RandomForestClassifier(n_estimators=30, random_state=0)
model.fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
print("Accuracy:", accuracy)
joblib.dump(model, '/mycode/model.pkl')
with open('/mycode/accuracy.txt', 'w') as f:
    f.write(str(accuracy))
