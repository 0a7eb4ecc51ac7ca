"""Train the wine random forest (100 trees) and save it as a served model folder (``bench/serving``).

Runs in the ml serving virtualenv. Arguments: the model folder to write, the wine CSV.
"""

import json
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
df = pd.read_csv(sys.argv[2])
model = RandomForestClassifier(n_estimators=100, random_state=1).fit(df.drop(columns=["Class"]), df["Class"])
joblib.dump(model, out / "model.joblib")
(out / "model.json").write_text(json.dumps({"project": "wine-bench", "version": 1, "format": "joblib"}))
print(json.dumps([str(c) for c in model.feature_names_in_]))
