"""Write the three batches of pump readings that this data project trains on (no download: made up here, seeded).

Each row is one pump on one day: where it stands and what it is (``site``, ``pump_model``, ``lubricant``), its
sensors (temperature, vibration, pressure, flow, power, humidity, speed), its age and the hours since its last
service; the label ``failure`` says whether it failed within a week (``yes`` for 4% of the pumps in batch 1: the rare
class). Some values are missing and written ``na``, as field data often has them (``na_values: [na]`` in
mlops.yaml); ``inspection_score`` is missing in most rows (mlops drops such a column). The later batches drift as
a fleet does: batch 2 comes from a hot summer with more X5 pumps, and in batch 3 the vibration sensors were
recalibrated (they read 40% higher), a new site (``harbour``) joined, and the humidity sensors often fail.

    .venv/bin/python examples/pump-failures-data/make_data.py   # data/batch-{1,2,3}.csv.gz, the same bytes each time
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 2000
SEED = 20261208
NA = "na"
OUT = Path(__file__).resolve().parent / "data"

#: Per batch: temperature shift (degrees), vibration sensor scale, share of X5 pumps, sites, humidity missing share.
DRIFT = {
    1: {"heat": 0.0, "vibration_scale": 1.0, "x5": 0.25, "sites": ["north", "south", "east", "west"], "humid_na": 0.05},
    2: {"heat": 5.0, "vibration_scale": 1.0, "x5": 0.40, "sites": ["north", "south", "east", "west"], "humid_na": 0.05},
    3: {"heat": 3.0, "vibration_scale": 1.4, "x5": 0.35, "sites": ["north", "south", "east", "west", "harbour"],
        "humid_na": 0.30},
}


def make_batch(batch: int, rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    """One batch of readings, with missing values as ``NaN``/``None`` (``write`` marks them ``na``)."""
    rng = np.random.default_rng([seed, batch])
    d = DRIFT[batch]
    others = (1 - d["x5"]) / 2
    model = rng.choice(["P100", "P200", "X5"], size=rows, p=[others, others, d["x5"]])
    site = rng.choice(d["sites"], size=rows)
    lubricant = rng.choice(["mineral", "synthetic"], size=rows, p=[0.6, 0.4]).astype(object)
    age = np.round(rng.gamma(2.0, 3.0, size=rows), 1)
    service = np.round(rng.exponential(500, size=rows))
    temperature = rng.normal(58 + d["heat"], 7, size=rows) + np.where(model == "X5", 4, 0)
    vibration = rng.lognormal(np.log(2.2), 0.35, size=rows) * (1 + age / 40)
    pressure = rng.normal(6.0, 0.8, size=rows)
    flow = 20 * pressure + rng.normal(0, 8, size=rows)
    rpm = rng.choice([1450, 2900], size=rows, p=[0.7, 0.3])
    power = flow * pressure / 60 + rpm / 1000 + rng.normal(0, 0.5, size=rows)
    humidity = rng.uniform(20, 90, size=rows)
    inspection = rng.integers(1, 11, size=rows).astype(float)

    risk = (-11.5 + 0.32 * (temperature - 60) + 6.0 * np.log(vibration / 2.2) + 0.003 * service + 0.12 * age
            + np.where(model == "X5", 1.5, 0.0) + np.where(lubricant == "mineral", 1.0, 0.0)
            + np.where(site == "harbour", 1.0, 0.0))
    failure = np.where(rng.random(rows) < 1 / (1 + np.exp(-risk)), "yes", "no")

    frame = pd.DataFrame({
        "site": site, "pump_model": model, "lubricant": lubricant, "age_years": age,
        "hours_since_service": service, "temperature_c": np.round(temperature, 1),
        "vibration_mm_s": np.round(vibration * d["vibration_scale"], 2), "pressure_bar": np.round(pressure, 2),
        "flow_rate_l_min": np.round(flow, 1), "power_kw": np.round(power, 2), "humidity_pct": np.round(humidity),
        "rpm": rpm, "inspection_score": inspection, "failure": failure})
    for column, share in [("hours_since_service", 0.08), ("vibration_mm_s", 0.04), ("humidity_pct", d["humid_na"]),
                          ("inspection_score", 0.8), ("lubricant", 0.06)]:
        frame.loc[rng.random(rows) < share, column] = None
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    """The batch as gzipped CSV, missing values written ``na``; the same bytes on every run (no timestamp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, na_rep=NA, float_format="%g", compression={"method": "gzip", "mtime": 0})
    return path


def main() -> None:
    for batch in DRIFT:
        frame = make_batch(batch)
        path = write(frame, OUT / f"batch-{batch}.csv.gz")
        share = (frame["failure"] == "yes").mean()
        print(f"{path.relative_to(OUT.parent)}: {len(frame)} rows, {share:.1%} failures")


if __name__ == "__main__":
    main()
