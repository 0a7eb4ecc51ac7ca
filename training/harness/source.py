"""Turn a training project's files into runnable Python source (stdlib only).

Scripts are read and written in their own encoding (PEP 263: a ``# -*- coding: latin-1 -*-`` line or a UTF-8
BOM, else UTF-8), so a rewritten script is the same text in the same bytes as the one pushed.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

#: PEP 263's encoding declaration, on one of the first two lines.
_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)


class SourceError(ValueError):
    """A script's bytes cannot be decoded (in its declared encoding, or as UTF-8): the file and byte offset."""


def read_source(path: Path) -> str:
    """The text of a Python file decoded as PEP 263 says (its coding line or BOM, else UTF-8).

    Raises:
        SourceError: An unknown encoding, or bytes it cannot decode; the message names the file and the offset.
    """
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:
        raise SourceError(f"{path.name}: {e.msg}; declare an encoding Python knows, e.g. "
                          "'# -*- coding: latin-1 -*-', or save the file as UTF-8") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise SourceError(f"{path.name}: byte {e.start} (0x{data[e.start]:02x}) cannot be decoded as {encoding}; "
                          "save the file as UTF-8 or declare its encoding on its first line, e.g. "
                          "'# -*- coding: latin-1 -*-'") from None


def source_encoding(text: str) -> str:
    """The encoding a script's text declares on its first two lines (PEP 263), else ``utf-8``."""
    for line in text.splitlines()[:2]:
        match = _COOKIE.match(line)
        if match:
            return match.group(1)
        if line.strip() and not line.lstrip().startswith("#"):
            break
    return "utf-8"


def write_source(path: Path, text: str) -> None:
    """Write a script in the encoding it declares (UTF-8 when it declares none, or when its text no longer fits
    the declared one: then the declaration is made UTF-8 too, so the file still says what it is)."""
    encoding = source_encoding(text)
    try:
        data = text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines[:2]):
            if _COOKIE.match(line):
                lines[i] = line.replace(_COOKIE.match(line).group(1), "utf-8")  # type: ignore[union-attr]
        data = "".join(lines).encode("utf-8")
    path.write_bytes(data)


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
