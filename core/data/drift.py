"""Feature drift of a snapshot against a reference snapshot.

Each feature (every column but the label) is tested on its non-missing values: numbers with the two-sample
Kolmogorov-Smirnov test, categories with a chi-square test of the category counts or with the population
stability index (PSI). A feature drifts when its test is significant (p-value below ``p_value``) and the shift is
large enough (KS statistic at least ``ks_statistic``, Cramér's V at least ``cramers_v``), or when its PSI is above
``psi``. The effect-size floor matters: with thousands of rows a harmless shift is significant (APS file 3 against
files 1 and 2, same source: 13 of 170 features have p < 0.05, none a KS statistic above 0.05). The data drifts
when the share of drifted features reaches ``drift_share``. Drift is reported as warnings: it does not stop a
run.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from core.data._columns import Kind, column_kind, text_values
from core.data.issues import WARNING, Issue

#: Above this many pairs of values, KS uses its asymptotic p-value (exact is slow and no more useful there).
EXACT_KS_LIMIT = 1_000_000
PSI_EPSILON = 1e-4


class DriftThresholds(BaseModel):
    """When a feature, and the data as a whole, count as drifted."""

    p_value: float = Field(0.05, gt=0, lt=1)
    ks_statistic: float = Field(0.1, ge=0, le=1)
    cramers_v: float = Field(0.1, ge=0, le=1)
    psi: float = Field(0.2, gt=0)
    categorical: Literal["chi2", "psi"] = "chi2"
    drift_share: float = Field(0.5, gt=0, le=1)
    min_values: int = Field(20, ge=2)


class FeatureDrift(BaseModel):
    """The test of one feature. ``method`` is ``skipped`` (with a ``note``) when it could not be tested.

    ``effect`` is the size of the shift, comparable across features of one method: the KS statistic, Cramér's V
    or the PSI.
    """

    column: str
    kind: Kind | None
    method: Literal["ks", "chi2", "psi", "skipped"]
    statistic: float | None = None
    p_value: float | None = None
    effect: float | None = None
    drifted: bool = False
    note: str = ""


class DriftReport(BaseModel):
    """Per-feature results and the share of tested features that drifted."""

    features: list[FeatureDrift]
    drift_share: float
    drifted: bool
    thresholds: DriftThresholds

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the features that drifted."""
        return [f.column for f in self.features if f.drifted]

    def issues(self, source: str | None = None, limit: int = 10) -> list[Issue]:
        """Warnings for the report: one for the data when it drifted, one per drifted feature (at most ``limit``)."""
        tested = sum(f.method != "skipped" for f in self.features)
        found = []
        if self.drifted:
            found.append(Issue(severity=WARNING, source=source, message=(
                f"data drift: {len(self.drifted_columns)} of {tested} features drifted ({self.drift_share:.0%}, "
                f"threshold {self.thresholds.drift_share:.0%})")))
        worst = sorted((f for f in self.features if f.drifted), key=lambda f: f.effect or 0.0, reverse=True)
        for f in worst[:limit]:
            found.append(Issue(severity=WARNING, column=f.column, source=source,
                               message=f"column '{f.column}' drifted: {_describe(f)}"))
        if len(worst) > limit:
            found.append(Issue(severity=WARNING, source=source,
                               message=f"... and {len(worst) - limit} more drifted features"))
        return found


def _describe(f: FeatureDrift) -> str:
    if f.method == "psi":
        return f"PSI {f.effect:.3f}"
    if f.method == "chi2":
        return f"chi-square p-value {f.p_value:.2g}, Cramér's V {f.effect:.3f}"
    return f"KS statistic {f.effect:.3f}, p-value {f.p_value:.2g}"


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, label: str | None = None,
                 thresholds: DriftThresholds | None = None) -> DriftReport:
    """Test every feature of the reference that ``current`` also has.

    Args:
        reference: The reference snapshot's rows (e.g. the one the production model was trained on).
        current: The rows to compare.
        label: The label column, left out.
        thresholds: Default ``DriftThresholds()``.
    """
    thresholds = thresholds or DriftThresholds()
    results = [_feature(str(name), reference[name], current[name], thresholds)
               for name in reference.columns if name != label and name in current.columns]
    tested = [r for r in results if r.method != "skipped"]
    share = sum(r.drifted for r in tested) / len(tested) if tested else 0.0
    return DriftReport(features=results, drift_share=share, drifted=bool(tested) and share >= thresholds.drift_share,
                       thresholds=thresholds)


def _feature(name: str, ref: pd.Series, cur: pd.Series, thresholds: DriftThresholds) -> FeatureDrift:
    kind = column_kind(ref)
    ref, cur = ref.dropna(), cur.dropna()
    if min(len(ref), len(cur)) < thresholds.min_values:
        return FeatureDrift(column=name, kind=kind, method="skipped",
                            note=f"fewer than {thresholds.min_values} values on one side")
    if kind != column_kind(cur):
        return FeatureDrift(column=name, kind=kind, method="skipped", note="its type changed (see validation)")
    if kind == "number":
        a, b = ref.to_numpy(dtype="float64"), cur.to_numpy(dtype="float64")
        method = "auto" if len(a) * len(b) <= EXACT_KS_LIMIT else "asymp"
        result = stats.ks_2samp(a, b, method=method)
        p = float(result.pvalue)
        statistic = float(result.statistic)
        return FeatureDrift(column=name, kind=kind, method="ks", statistic=statistic, p_value=p, effect=statistic,
                            drifted=p < thresholds.p_value and statistic >= thresholds.ks_statistic)
    if kind == "category":
        counts = pd.DataFrame({"ref": text_values(ref).value_counts(), "cur": text_values(cur).value_counts()})
        counts = counts.fillna(0).to_numpy(dtype="float64")
        if thresholds.categorical == "psi":
            psi = _psi(counts[:, 0], counts[:, 1])
            return FeatureDrift(column=name, kind=kind, method="psi", statistic=psi, effect=psi,
                                drifted=psi > thresholds.psi)
        if len(counts) < 2:
            return FeatureDrift(column=name, kind=kind, method="chi2", statistic=0.0, p_value=1.0, effect=0.0)
        chi2, p, _, _ = stats.chi2_contingency(counts.T)
        cramers_v = float(np.sqrt(chi2 / counts.sum()))  # two samples: min(rows, columns) - 1 == 1
        drifted = float(p) < thresholds.p_value and cramers_v >= thresholds.cramers_v
        return FeatureDrift(column=name, kind=kind, method="chi2", statistic=float(chi2), p_value=float(p),
                            effect=cramers_v, drifted=drifted)
    return FeatureDrift(column=name, kind=kind, method="skipped", note=f"no drift test for {kind} columns")


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same categories (empty ones smoothed)."""
    p = np.clip(ref_counts / ref_counts.sum(), PSI_EPSILON, None)
    q = np.clip(cur_counts / cur_counts.sum(), PSI_EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))
