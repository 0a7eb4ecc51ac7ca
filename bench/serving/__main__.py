"""``python -m bench.serving``: prepare the virtualenvs and the two models, then measure (see ``__init__.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import serving
from bench._common import ROOT, inner, load_average, parser, serve_venv
from bench.serving import _capture, _mlflow, _model
from bench.serving._setup import Load, Served, clean_env

WINE_ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]
#: An 8x8 one-channel image, as the digits CNN takes it.
IMAGE = [[[round((i * 8 + j) % 17 / 16, 4)] for j in range(8)] for i in range(8)]


def models(tmp: Path, epochs: int) -> tuple[Served, Served]:
    """Train the wine forest and the digits CNN in their serving virtualenvs."""
    ml, dl = serve_venv("ml"), serve_venv("dl")
    trained = subprocess.run([str(ml), inner("train_wine.py"), str(tmp / "wine"),
                              str(ROOT / "examples" / "wine-sklearn" / "wines.csv.gz")], env=clean_env(), check=True,
                             capture_output=True, text=True)
    columns = json.loads(trained.stdout)
    subprocess.run([str(dl), inner("train_digits.py"), str(tmp / "digits"), str(epochs)], env=clean_env(), check=True)
    wine = Served("wine random forest", "wine random forest (scikit-learn, 100 trees)", ml, tmp / "wine",
                  {"rows": [WINE_ROW]}, [WINE_ROW], {"dataframe_split": {"columns": columns, "data": [WINE_ROW]}})
    digits = Served("digits CNN", "digits CNN (Keras 3, TensorFlow)", dl, tmp / "digits", {"rows": [IMAGE]},
                    [IMAGE], {"inputs": [IMAGE]})
    return wine, digits


def mlflow_for(skip: bool, quick: bool) -> Path | None:
    """MLflow's virtualenv, or ``None`` (left out: asked, only capture, or quick and not built yet)."""
    if skip:
        return None
    if quick and not (_mlflow.venv_path() / ".ready").exists():
        print(f"MLflow left out: quick mode does not build its virtualenv ({_mlflow.venv_path()})", flush=True)
        return None
    return _mlflow.mlflow_venv()


def main() -> int:
    """Every model against its own predict, the floor and MLflow; then capture on vs off."""
    cli = parser(serving.__doc__)
    cli.add_argument("--seconds", type=float, default=6, help="length of each wrk run (default 6)")
    cli.add_argument("--skip-mlflow", action="store_true", help="do not build or run MLflow's server")
    cli.add_argument("--only-capture", action="store_true", help="measure prediction capture on vs off only")
    args = cli.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    print("preparing virtualenvs and models", flush=True)
    mlflow = mlflow_for(args.skip_mlflow or args.only_capture, args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        load = Load(3 if args.quick else args.seconds, 1 if args.quick else 5, Path(name))
        wine, digits = models(load.tmp, 1 if args.quick else 5)
        if not args.only_capture:
            for model in (wine, digits):
                _model.measure(model, mlflow, load)
        for model in (wine, digits):
            _capture.measure(model, load)
    print()
    load_average("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
