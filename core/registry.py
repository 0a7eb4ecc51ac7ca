"""The model registry: versions of each project's model, aliases that point at them, and the history of
every alias move (who, when, why, from which run).

Files live in ``$MLOPS_REGISTRY/<project>/v<N>/`` (the model file and ``model.json``), records in the run
store. A version is registered once, when its run finishes, by copying the trial's model file there (the
only copy). ``production`` is what ``mlops deploy`` serves; a rollback is a recorded move of that alias.
"""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path

from core import paths, settings
from core.errors import AliasMoved, RegistryError
from core.names import check_name
from core.records import AliasMove, ModelVersion
from core.store import ANY_VERSION, RunStore

PRODUCTION = "production"
#: The alias of a blessed version waiting for a person's approval (``approval: manual``).
CANDIDATE = "candidate"


def who() -> str:
    """The person or job behind an action: the Jenkins user or job, else the login name."""
    for setting in (settings.USER, settings.BUILD_USER_ID, settings.BUILD_TAG):
        if setting.is_set():
            return setting.get()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Registry:
    """Versions, aliases and alias history of projects' models.

    Args:
        store: The run store that keeps the records.
        root: The folder of the model files (default ``$MLOPS_REGISTRY``).
    """

    def __init__(self, store: RunStore, root: Path | None = None) -> None:
        self.store = store
        self.root = root or paths.registry_dir()

    def folder(self, project: str, version: int) -> Path:
        """The folder of a version's files.

        Raises:
            UsageError: ``project`` is not a valid name (a path is never built from one).
        """
        return self.root / check_name(project, "project name") / f"v{int(version)}"

    def register(self, candidate: ModelVersion, model_file: Path, extras: dict[str, Path] | None = None,
                 meta: dict | None = None) -> ModelVersion:
        """Give a model the next version of its project and copy its file into the registry.

        Args:
            candidate: The version's record (its number is allocated here).
            model_file: The model file (``model.joblib``, ``model.keras``).
            extras: Name -> file copied beside it (a fitted transform, the test predictions).
            meta: More fields for ``model.json`` (what the serving app reads: ``allow_missing``, ``classes``...).

        Raises:
            RegistryError: The model file or an extra file is missing.
        """
        for f in [model_file, *(extras or {}).values()]:
            if not f.is_file():
                raise RegistryError(f"{f}: the model file to register does not exist")
        version = self.store.create_model_version(candidate)
        folder = self.folder(version.project, version.version)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / model_file.name
        shutil.copy2(model_file, target)
        for name, f in (extras or {}).items():
            shutil.copy2(f, folder / name)
        version = version.model_copy(update={"path": str(target)})
        meta = {**{k: v for k, v in version.to_doc().items() if k not in ("_id",)}, **(meta or {}),
                "file": model_file.name}
        (folder / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self.store.update_model_version(version.project, version.version, path=str(target))
        return version

    def get(self, project: str, version: int) -> ModelVersion:
        """One version.

        Raises:
            RegistryError: No such version.
        """
        found = self.store.model_version(project, version)
        if found is None:
            known = ", ".join(f"v{v.version}" for v in self.store.model_versions(project)) or "none"
            raise RegistryError(f"{project} has no model version {version} (versions: {known}); "
                                "see 'mlops models PROJECT'")
        return found

    def versions(self, project: str) -> list[ModelVersion]:
        """The project's versions, newest first."""
        return self.store.model_versions(project)

    def aliases(self, project: str) -> dict[str, int]:
        """Alias -> version."""
        return self.store.aliases(project)

    def history(self, project: str, alias: str | None = None) -> list[AliasMove]:
        """Every alias move, oldest first."""
        return self.store.alias_history(project, alias)

    def holder(self, project: str, alias: str = PRODUCTION) -> ModelVersion | None:
        """The version an alias points at, or ``None``."""
        number = self.aliases(project).get(alias)
        return self.store.model_version(project, number) if number is not None else None

    def promote(self, project: str, version: int, alias: str = PRODUCTION, why: str = "",
                run_id: str | None = None, by: str | None = None,
                expected: int | object | None = ANY_VERSION) -> AliasMove:
        """Point ``alias`` at ``version`` (also to roll back) and record the move.

        Args:
            expected: Compare-and-swap: move only if the alias points at this version now (``None``: at none),
                as when a gate compared the candidate with it; by default wherever it points.

        Raises:
            RegistryError: The version does not exist or its files are gone.
            AliasMoved: ``expected`` is given and the alias points elsewhere (another run moved it meanwhile).
        """
        check_name(alias, "alias")
        target = self.get(project, version)
        if not (self.folder(project, version) / "model.json").is_file():
            raise RegistryError(f"the files of {project} v{version} are missing in {self.folder(project, version)}")
        if expected is ANY_VERSION:
            return self._move(project, alias, target, why, run_id, by, ANY_VERSION)
        with self.store.lock(f"alias/{project}/{alias}"):  # one compare-and-swap at a time, on any store
            return self._move(project, alias, target, why, run_id, by, expected)

    def _move(self, project: str, alias: str, target: ModelVersion, why: str, run_id: str | None, by: str | None,
              expected: int | object | None) -> AliasMove:
        previous = self.aliases(project).get(alias)
        if expected is not ANY_VERSION and previous != expected:
            raise AliasMoved(project, alias, expected, previous)  # type: ignore[arg-type]
        move = AliasMove(project=project, alias=alias, version=target.version, previous=previous, who=by or who(),
                         why=why, run_id=run_id or target.run_id)
        self.store.move_alias(move, expected)
        return move

    def previous_holders(self, project: str, alias: str = PRODUCTION) -> list[int]:
        """Versions that held the alias before its current one, most recent first (candidates for rollback)."""
        current = self.aliases(project).get(alias)
        seen: list[int] = []
        for move in reversed(self.history(project, alias)):
            if move.version != current and move.version not in seen:
                seen.append(move.version)
        return seen
