"""``mlops feedback PROJECT FILE.csv``: users' labels from a file, sent in batches to ``POST /feedback`` of the
project's serving unit - the same path as the API and the review page, with the same token."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from core.errors import MlopsError, UsageError
from monitor.unit_client import Refused, post

#: Labels per request (the server takes at most 1000).
BATCH = 500


def read_labels(path: Path) -> list[tuple[int, str, str]]:
    """``(line, inference_id, label)`` from a CSV file with the columns ``inference_id`` and ``label``.

    Raises:
        UsageError: The file is missing, has no such columns, or a line has no id or no label.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "inference_id" not in columns or "label" not in columns:
                raise UsageError(f"{path}: needs the columns inference_id and label (it has: "
                                 f"{', '.join(columns) or 'none'})")
            rows = []
            for record in reader:
                record = {(k or "").strip(): (v or "").strip() for k, v in record.items()}
                line = reader.line_num
                if not record.get("inference_id") or record.get("label", "") == "":
                    raise UsageError(f"{path}: line {line}: an inference_id and a label are both needed")
                rows.append((line, record["inference_id"], record["label"]))
    except OSError as e:
        raise UsageError(f"{path}: cannot read it: {e.strerror or e}") from e
    if not rows:
        raise UsageError(f"{path}: no labels in it")
    return rows


def send_labels(url: str, token: str, rows: list[tuple[int, str, str]], path: Path, source: str = "cli"
                ) -> dict[str, Any]:
    """Post the labels in batches; stop at the first refused batch, naming its lines.

    Returns:
        ``{"recorded": N, "replaced": K, "batches": B}``.

    Raises:
        MlopsError: The server refused a batch (the reason, with the file's line) or cannot be reached;
            the batches before it stay recorded.
    """
    recorded = replaced = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        body = {"labels": [{"inference_id": i, "label": label} for _, i, label in batch], "source": source}
        try:
            answer = post(url, "/feedback", body, token=token)
        except Refused as e:
            kept = f"; the {recorded} labels before line {batch[0][0]} are recorded" if recorded else ""
            raise MlopsError(f"{path}: lines {batch[0][0]}-{batch[-1][0]} refused ({e.code}): "
                             f"{_with_lines(e.detail, batch)}{kept}") from None
        recorded += answer["recorded"]
        replaced += answer["replaced"]
    return {"recorded": recorded, "replaced": replaced, "batches": -(-len(rows) // BATCH)}


def _with_lines(detail: str, batch: list[tuple[int, str, str]]) -> str:
    """The server's reason with ``labels[i]`` turned into the file's line."""
    import re

    return re.sub(r"labels\[(\d+)\]", lambda m: f"line {batch[int(m.group(1))][0]}" if int(m.group(1)) < len(batch)
                  else m.group(0), detail)
