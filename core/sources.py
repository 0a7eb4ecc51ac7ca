"""Every declared setting with its variable, its flag, its value and where that value comes from (``mlops config``).

A project's settings (``mlops.yaml`` fields declared with ``core.config.setting``) come from the first of: the
command line, the environment, ``mlops.yaml``, the default. Operator settings (``core.settings``) come from the
environment or their default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.config import CONFIG_FILE, ProjectSetting, load_config, project_settings, read_file
from core.settings import DECLARED, GROUPS, Setting, SettingError, environment


def _dotted(data: Any, path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted key in nested mappings."""
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return False, None
        data = data[part]
    return True, data


def source_of(setting: ProjectSetting, overrides: Mapping[str, Any], environ: Mapping[str, str],
              file: Mapping[str, Any]) -> str:
    """Where a project setting's value comes from: its flag, its variable, ``mlops.yaml`` or ``default``."""
    if overrides.get(setting.path) is not None:
        return str(setting.flag)
    if environ.get(setting.env):
        return setting.env
    return CONFIG_FILE if _dotted(file, setting.path)[0] else "default"


def project_rows(project: Path, overrides: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per project setting: ``setting`` (the dotted field), ``env``, ``flag``, ``default``, ``value``,
    ``source`` and ``description``.

    Raises:
        ConfigError: The configuration is invalid (as ``mlops run`` would say).
    """
    overrides = overrides or {}
    environ = environment() if environ is None else environ
    values = load_config(project, dict(overrides), environ).model_dump(by_alias=True)
    file, _ = read_file(project)
    return [{"setting": s.path, "env": s.env, "flag": s.flag, "default": s.default,
             "value": _dotted(values, s.path)[1], "source": source_of(s, overrides, environ, file),
             "description": s.description} for s in project_settings()]


def _value(setting: Setting, environ: Mapping[str, str]) -> Any:
    if setting.secret:
        return setting.shown(environ)
    try:
        return setting.get(environ)
    except SettingError:
        return setting.text(environ)  # shown as it is; the command that reads it says what is wrong


def operator_rows(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per operator setting, by group: ``setting`` and ``env`` (the variable), ``group``, ``default``,
    ``value`` (a secret's only as ``(set)``), ``source`` and ``description``."""
    environ = environment() if environ is None else environ
    ordered = sorted(DECLARED.values(), key=lambda s: list(GROUPS).index(s.group))
    return [{"setting": s.env, "env": s.env, "flag": None, "group": s.group, "default": s.default,
             "value": _value(s, environ), "source": s.env if s.is_set(environ) else "default",
             "description": s.description} for s in ordered]


def markdown(project: list[dict[str, Any]], operator: list[dict[str, Any]]) -> str:
    """The rows as the docs' tables of settings (``mlops config --markdown``): one for ``mlops.yaml`` fields with
    their variable and flag, one per group of operator settings."""
    lines = ["| mlops.yaml | variable | flag | default | what |", "|---|---|---|---|---|"]
    lines += [f"| `{r['setting']}` | `{r['env']}` | {_cell(r['flag'])} | {_cell(r['default'])} | {r['description']} |"
              for r in project]
    for group, title in GROUPS.items():
        rows = [r for r in operator if r["group"] == group]
        lines += ["", f"**{title[:1].upper()}{title[1:]}**", "", "| variable | default | what |", "|---|---|---|"]
        lines += [f"| `{r['env']}` | {_cell(r['default'])} | {r['description']} |" for r in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return "" if value is None or value == [] else f"`{value}`"
