"""Save a served model in MLflow's format, for ``mlflow models serve`` (``bench/serving``).

Runs in MLflow's own virtualenv. Arguments: ``keras`` or ``sklearn``, the model file, the MLflow model folder.
"""

import sys

kind, src, dest = sys.argv[1:4]
if kind == "keras":
    import keras
    import mlflow.keras

    mlflow.keras.save_model(keras.saving.load_model(src), dest, pip_requirements=["keras"])
else:
    import joblib
    import mlflow.sklearn

    # cloudpickle, as our joblib file: MLflow's default (skops) refuses tree models unless told to trust them
    mlflow.sklearn.save_model(joblib.load(src), dest, pip_requirements=["scikit-learn"],
                              serialization_format="cloudpickle")
