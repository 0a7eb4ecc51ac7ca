"""``mlops deploy``: start (or replace) the serving unit of a model version from the registry.

The new unit must turn healthy before the old one is retired, so a model that cannot load never takes
the service down: the old unit keeps serving and the deploy fails.
"""

from __future__ import annotations

from typing import Any

from core.console import Out
from core.errors import DeployError
from core.records import Event, env_of
from core.registry import PRODUCTION, Registry
from monitor.units import all_units, start_unit


def deploy(registry: Registry, project: str, version: int | None, out: Out, client: Any | None = None,
           run_id: str | None = None) -> dict[str, Any]:
    """Serve a model version (default: the one ``production`` points to): new unit healthy first, then
    the old ones retired.

    Raises:
        DeployError: No such version, or the new unit did not turn healthy (the old one keeps serving).
    """
    store = registry.store
    if version is None:
        holder = registry.holder(project, PRODUCTION)
        if holder is None:
            raise DeployError(f"{project} has no '{PRODUCTION}' model; push or promote a version first")
        version = holder.version
    model = registry.get(project, version)
    env = env_of(model.kind or ("ml" if model.format == "joblib" else "ann"))
    out.step(f"deploy model v{version} of {project}")
    old = [u for u in all_units(client, project) if u.state()[0] == "running"]
    new = start_unit(client, registry, project, version, env, out)
    state = new.wait_healthy(180)
    if state != "healthy":
        logs = new.logs(15)
        new.remove()
        store.add_event(Event(type="deploy_failed", project=project, version=version, state=state, run_id=run_id))
        kept = f"; v{old[0].version} keeps serving" if old else ""
        raise DeployError(f"model v{version} did not become healthy ({state}){kept}\n{logs}")
    url = new.url
    for unit in old:
        unit.remove()
    store.add_event(Event(type="deploy", project=project, version=version, container=new.name, url=url,
                          run_id=run_id or model.run_id, env=env))
    out.ok(f"serving model v{version} of {project} at {url} ({new.name})")
    return {"project": project, "version": version, "container": new.name, "url": url,
            "retired": [u.name for u in old]}
