"""The "Validate data" stage: read a project's rows, take the run's snapshot, check it against the project's schema
and measure drift against the production model's snapshot, before any training.

Errors stop the run (``DataError``, exit code 1, one reason per line) and store nothing; warnings and drift go
into the run record and the report. The schema is inferred from the first accepted snapshot and kept in
``$MLOPS_HOME/projects/<project>/schema.yaml`` (or the project's own file named by ``data.schema``).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core import paths
from core.config import ProjectConfig
from core.console import Out
from core.data import DriftReport, Issue, Snapshot, SnapshotSummary
from core.errors import DataError
from core.registry import PRODUCTION, Registry
from core.store import RunStore

SCHEMA_FILE = "schema.yaml"
#: Drifted features named in the run record and the report (the rest are counted).
DRIFT_LISTED = 10


class DriftSummary(BaseModel):
    """Drift of the rows new since the production model's snapshot, feature by feature."""

    reference: str
    version: int
    rows: int
    tested: int
    share: float
    drifted: bool
    columns: list[str] = Field(default_factory=list)
    threshold: float
    worst: list[dict[str, Any]] = Field(default_factory=list)


class DataCheck(BaseModel):
    """What the "Validate data" stage found: the snapshot, the schema used and the warnings and drift."""

    source: str
    snapshot: SnapshotSummary
    folder: str
    schema_path: str
    schema_inferred: bool
    positive: str | None = None
    warnings: list[Issue] = Field(default_factory=list)
    drift: DriftSummary | None = None
    drift_note: str = ""

    def to_doc(self) -> dict[str, Any]:
        """The run record's ``data`` field."""
        return self.model_dump(mode="json")


def _files(cfg: ProjectConfig, project_dir: Path) -> list[Path]:
    assert cfg.data is not None
    files: list[Path] = []
    for pattern in cfg.data.path:
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else project_dir / full
        found = sorted(Path(p) for p in glob.glob(str(full))) if glob.has_magic(str(full)) else [full]
        if not found or not all(p.is_file() for p in found):
            raise DataError(f"mlops.yaml: data.path: no file matches '{pattern}' in {project_dir}", source=pattern)
        files += [p for p in found if p not in files]
    return files


def read_rows(cfg: ProjectConfig, project_dir: Path, store: RunStore) -> Any:
    """The project's rows as one frame, from its files or its collection.

    Raises:
        DataError: A file is missing or unreadable, or the collection is empty.
    """
    from core.data import read_collection, read_files

    assert cfg.data is not None
    if cfg.data.mongodb:
        return read_collection(store.data_collection(cfg.data.mongodb), cfg.data.na_values)
    return read_files(_files(cfg, project_dir), cfg.data.na_values)


def production_snapshot(store: RunStore, project: str) -> tuple[int, Snapshot] | None:
    """The snapshot the production model was trained on, with its version (``None`` when there is none)."""
    from core.data import read_snapshot

    holder = Registry(store).holder(project, PRODUCTION)
    if holder is None or not holder.snapshot:
        return None
    folder = paths.snapshots_dir() / holder.snapshot
    if not folder.is_dir():
        return None
    return holder.version, read_snapshot(folder)


def schema_path(cfg: ProjectConfig, project_dir: Path, project: str) -> Path:
    """The project's schema file: ``data.schema`` in the project, else the one mlops keeps for it."""
    assert cfg.data is not None
    if cfg.data.schema_file:
        return project_dir / cfg.data.schema_file
    return paths.project_state_dir(project) / SCHEMA_FILE


def _label_checks(cfg: ProjectConfig, summary: SnapshotSummary) -> str | None:
    """The positive class, after checking that the metric suits the label.

    Raises:
        DataError: ``metric: cost`` (or ``positive:``) on a label without exactly two classes.
    """
    from core.evaluation import positive_class

    assert cfg.data is not None
    if summary.task != "classification":
        return None
    positive = positive_class(summary.classes, cfg.positive)
    if positive is None and (cfg.metric == "cost" or "cost" in cfg.gate):
        raise DataError(f"metric cost needs two classes, but label column '{cfg.data.label}' has "
                        f"{len(summary.classes)}: {', '.join(sorted(summary.classes)[:5])}", column=cfg.data.label)
    return positive


def _drift(cfg: ProjectConfig, snapshot: Snapshot, reference: tuple[int, Snapshot] | None
           ) -> tuple[DriftSummary | None, str]:
    from core.data import DriftThresholds, detect_drift, new_rows

    assert cfg.data is not None
    if reference is None:
        return None, "no production model with a snapshot to compare with"
    version, earlier = reference
    if earlier.summary.content_hash == snapshot.summary.content_hash:
        return None, f"the same rows as production v{version}'s snapshot {earlier.summary.id}"
    rows = new_rows(snapshot, earlier)
    current = rows if len(rows) else snapshot.frame
    report: DriftReport = detect_drift(earlier.frame, current, cfg.data.label, DriftThresholds(**cfg.data.drift))
    tested = [f for f in report.features if f.method != "skipped"]
    worst = sorted((f for f in tested if f.drifted), key=lambda f: f.effect or 0.0, reverse=True)
    return DriftSummary(
        reference=earlier.summary.id, version=version, rows=len(current), tested=len(tested),
        share=report.drift_share, drifted=report.drifted, columns=report.drifted_columns,
        threshold=report.thresholds.drift_share,
        worst=[{"column": f.column, "method": f.method, "effect": f.effect, "p_value": f.p_value}
               for f in worst[:DRIFT_LISTED]]), ""


def check_data(cfg: ProjectConfig, project_dir: Path, project: str, store: RunStore, out: Out
               ) -> tuple[DataCheck, Snapshot]:
    """Read, snapshot, validate and measure drift; store the snapshot (and a first schema) only when valid.

    Args:
        cfg: The project's configuration (with ``data:``).
        project_dir: The project folder (file paths are relative to it).
        project: The project's name.
        store: The run store (its database holds ``mongodb:`` collections; its registry the production model).
        out: Progress lines.

    Raises:
        DataError: Unusable data: a missing file or label, an empty collection, a schema error (every reason
            listed, one per line).
    """
    from core.data import (
        SplitRatios,
        Tolerances,
        infer_schema,
        load_schema,
        raise_for_errors,
        save_schema,
        take_snapshot,
        validate,
        write_snapshot,
    )

    data = cfg.data
    assert data is not None
    out.step(f"validate data: {data.source}")
    frame = read_rows(cfg, project_dir, store)
    reference = production_snapshot(store, project)
    snapshot = take_snapshot(frame, data.label, SplitRatios(**data.split), seed=data.seed, source=data.source,
                             keep=reference[1] if reference else None)
    summary = snapshot.summary
    positive = _label_checks(cfg, summary)
    path = schema_path(cfg, project_dir, project)
    inferred = not path.is_file()
    if inferred and data.schema_file:
        raise DataError(f"mlops.yaml: data.schema: {path} does not exist; remove the key to let mlops infer and "
                        "keep the schema", source=str(path))
    issues: list[Issue] = []
    if inferred:
        schema = infer_schema(snapshot.frame, data.label, task=summary.task, snapshot=summary.id,
                              tolerances=Tolerances(**data.tolerances))
    else:
        schema = load_schema(path)
        if schema.label != data.label:
            raise DataError(f"{path}: the schema is about label '{schema.label}', but mlops.yaml says "
                            f"data.label: {data.label}; delete the file to infer it again", source=str(path))
        issues = validate(snapshot.frame, schema, source=data.source)
    raise_for_errors(issues)
    drift, note = _drift(cfg, snapshot, reference)
    if drift is not None and drift.drifted:
        issues.append(Issue(severity="warning", source=data.source, message=(
            f"data drift: {len(drift.columns)} of {drift.tested} features drifted ({drift.share:.0%}, threshold "
            f"{drift.threshold:.0%}) against production v{drift.version}'s snapshot")))
    folder = write_snapshot(snapshot, paths.snapshots_dir())
    if inferred:
        save_schema(schema, path)
    check = DataCheck(source=data.source, snapshot=summary, folder=str(folder), schema_path=str(path),
                      schema_inferred=inferred, positive=positive, warnings=issues, drift=drift, drift_note=note)
    say(check, out)
    return check, snapshot


def say(check: DataCheck, out: Out) -> None:
    """What the stage found, in a few lines."""
    s = check.snapshot
    splits = " / ".join(f"{name} {counts.rows}" for name, counts in s.splits.items())
    balance = ", ".join(f"{k} {v / max(s.rows, 1):.1%}" for k, v in s.classes.items())
    kept = f"; {s.kept_rows} rows keep their split from {s.kept_from}" if s.kept_from else ""
    out.info(f"snapshot {s.id}: {s.rows} rows x {len(s.columns)} columns ({splits})"
             + (f"; classes {balance}" if balance else "") + kept)
    if check.schema_inferred:
        out.info(f"schema inferred from this snapshot and kept in {check.schema_path} (edit it to accept new data)")
    else:
        out.info(f"schema {check.schema_path}: no errors, {len(check.warnings)} warning(s)")
    for issue in check.warnings:
        out.fail(f"warning: {issue}")
    if check.drift is not None:
        d = check.drift
        names = f": {', '.join(d.columns[:DRIFT_LISTED])}" if d.columns else ""
        out.info(f"drift of {d.rows} new rows against production v{d.version}'s snapshot {d.reference}: "
                 f"{len(d.columns)} of {d.tested} features drifted ({d.share:.0%}; threshold {d.threshold:.0%})"
                 + names)
    else:
        out.info(f"drift: not measured ({check.drift_note})")
