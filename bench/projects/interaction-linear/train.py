# Two sensors; the alarm depends on their product. A logistic regression, accuracy printed as a percentage.
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

rng = np.random.default_rng(0)
df = pd.DataFrame({"pressure": rng.normal(size=1500), "temperature": rng.normal(size=1500)})
df["alarm"] = (df["pressure"] * df["temperature"] > 0).astype(int)
X_train, X_test, y_train, y_test = train_test_split(df[["pressure", "temperature"]], df["alarm"], random_state=0)
model = LogisticRegression()
model.fit(X_train, y_train)
print("Accuracy: %.1f%%" % (100 * model.score(X_test, y_test)))
