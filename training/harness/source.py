"""Turn a training project's files into runnable Python source (stdlib only)."""

from __future__ import annotations

import json


def notebook_to_python(text: str) -> str:
    """Return the code cells of a Jupyter notebook as one Python script.

    IPython magics (``%matplotlib``) and shell escapes (``!pip``) are commented out
    so the result parses as plain Python.

    Raises:
        ValueError: The text is not a notebook.
    """
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not a valid notebook ({e.msg} at line {e.lineno})") from e
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a valid notebook (no 'cells' list)")
    cells = []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        lines = [("# " + ln) if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines()]
        cells.append("\n".join(lines))
    return "\n\n".join(cells) + "\n"
