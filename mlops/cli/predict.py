"""``mlops predict``: score a CSV file of rows on a project's serving unit, as an application would."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli._app import JsonOpt, app, emit_json, handles_errors


@app.command()
@handles_errors
def predict(
    project: Annotated[str, typer.Argument(help="The project: its name, or the folder that holds its mlops.yaml.")],
    rows: Annotated[Path, typer.Argument(help="A CSV file of rows with the columns the model was trained on.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write inference_id,prediction,label per row.")] = Path(
        "predictions.csv"),
    label_column: Annotated[str | None, typer.Option(
        "--label-column", help="A column of the file that holds the true answers: not sent, written as 'label' "
                               "(the file is then ready for 'mlops feedback').")] = None,
    url: Annotated[str | None, typer.Option(help="The serving unit (default: the project's running one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a CSV file on the project's serving unit (POST /predict, rows by column name, missing values as null)
    and write each row's prediction with its inference id, the key 'mlops feedback' sends labels for."""
    from core.store import get_run_store
    from monitor.live import resolve_project
    from monitor.predict_file import read_rows, score, write_answers
    from monitor.units import healthy_url

    if url is not None and not Path(project).is_dir():  # the unit is given: the name only labels the output
        from core.names import check_name

        check_name(project, "PROJECT")
        name, folder = project, None
    else:
        name, folder, _ = resolve_project(project, get_run_store())
    na_values: tuple[str, ...] = ()
    if folder is not None:
        from core.config import load_config

        data = load_config(folder).data
        na_values = tuple(getattr(data, "na_values", None) or ()) if data else ()
    records, labels = read_rows(rows, label_column, na_values)
    if url is None:
        from core.infra.docker_engine import docker_client

        url = healthy_url(docker_client()[0], name)
    scored = score(url, records, rows)
    write_answers(out, scored, labels)
    summary = {"project": name, "rows": len(records), "model_version": scored.model_version, "out": str(out),
               "labels": bool(labels)}
    if as_json:
        emit_json(summary)
        return
    then = f"; send the labels with 'mlops feedback {project} {out}'" if labels else \
        "; fill in the label column, then 'mlops feedback'"
    print(f"{name}: {len(records)} row(s) scored by v{scored.model_version}, written to {out}{then}")
