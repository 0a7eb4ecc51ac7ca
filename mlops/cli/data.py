"""``mlops data``: load files into a collection of the run store's database, and validate a project's data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.console import Out
from mlops.cli._app import JsonOpt, ProjectArg, app, emit_json, handles_errors

data_app = typer.Typer(help="A project's data: load files into a collection, validate a snapshot.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("load")
@handles_errors
def load(
    files: Annotated[list[Path], typer.Argument(help="CSV (.csv, .csv.gz, .tsv) or Parquet files.")],
    collection: Annotated[str, typer.Option("--collection", help="The collection ('data.mongodb' in mlops.yaml).")],
    na_values: Annotated[list[str] | None, typer.Option("--na-value", help="A string that means missing "
                                                                           "(repeatable), e.g. --na-value na")
                         ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per insert.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Load files into a collection, in batches, once: a file loaded before (same content) adds nothing."""
    from core.data import load_files
    from core.store import get_run_store

    out = Out(json_mode=as_json)
    store = get_run_store()
    report = load_files(store.data_collection(collection), files, batch_size=batch_size, na_values=na_values or ())
    if as_json:
        emit_json(report.model_dump() | {"inserted": report.inserted, "store": store.description})
        return
    for f in report.files:
        what = "already loaded, nothing added" if f.already_loaded else f"{f.inserted} rows added"
        out.info(f"{f.path}: {f.rows} rows, {what}")
        for word, columns in f.markers.items():
            out.fail(f"warning: {f.path}: {len(columns)} column(s) hold numbers and the text {word!r} (e.g. "
                     f"{columns[0]!r}); if it means missing, declare it in mlops.yaml: data: {{na_values: [{word}]}}")
    out.ok(f"collection '{collection}' in {store.description}: {report.inserted} rows added in "
           f"{report.seconds:.1f}s")


@data_app.command("validate")
@handles_errors
def validate(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """Take the snapshot, check it against the project's schema and measure drift against the production model's
    snapshot. Exit 1 with the reasons when the data cannot be used."""
    from core.store import get_run_store
    from mlops.pipeline.context import RunContext
    from mlops.pipeline.options import RunOptions
    from mlops.pipeline.stages import stage_called

    ctx = RunContext.open(project, RunOptions(), Out(json_mode=as_json), get_run_store())
    stage_called("data", "validate").run(ctx)
    if ctx.data_check is None:
        ctx.out.info("no 'data:' in mlops.yaml: nothing to validate")
    if as_json:
        emit_json(ctx.data_check.to_doc() if ctx.data_check is not None else None)
