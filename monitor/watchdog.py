"""``mlops watch``: keep serving containers (or, without Docker, local serving processes) alive.

A serving unit that exited or turned unhealthy is restarted with the same model (its model
version is mounted, so a restart serves the last pushed model), with exponential back-off. After
``max_restarts`` restarts within ``window_s`` it is a crash loop: if an earlier version of the
project served well, that version is deployed instead (rollback); either way the watchdog stops
restarting the container and mails one alert. Every incident is recorded in the run store.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from mlops.console import Out
from monitor.units import ServingUnit, all_units


@dataclass(frozen=True)
class Policy:
    """Restart policy."""

    max_restarts: int = 3
    window_s: float = 600.0
    backoff_s: float = 2.0
    max_backoff_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_restarts < 1:
            raise ValueError(f"max_restarts must be at least 1, but got {self.max_restarts=}")


def previous_good_version(store: Any, project: str, current: int) -> dict[str, Any] | None:
    """The latest successful deploy of the project with another version, if any."""
    deploys = [e for e in store.events({"kind": "deploy", "project": project}) if e["version"] != current]
    return deploys[-1] if deploys else None


def alert(store: Any, out: Out, project: str, container: str, what: str, logs: str) -> None:
    """Mail one alert (same mail module as the reports) and record it."""
    from mlops.notify import compose, deliver, recipients_for, smtp_settings

    deploy = next(reversed(store.events({"kind": "deploy", "container": container})), None)
    run = store.get_run(deploy["run_id"]) if deploy and deploy.get("run_id") else {}
    subject = f"[mlops] ALERT {project}: serving container {container} keeps failing"
    text = f"{what}\n\nContainer: {container}\nProject: {project}\n\nLast log lines:\n{logs}\n"
    html = f"<h3>{subject}</h3><p>{what}</p><pre>{logs}</pre>"
    settings = smtp_settings()
    sender = settings.sender if settings else os.environ.get("MLOPS_MAIL_FROM", "mlops@localhost")
    result = deliver(compose(subject, text, html, sender, recipients_for(run or {})), out)
    store.add_event({"kind": "alert", "project": project, "container": container, "what": what, **result})


def check_once(client: Any | None, store: Any, out: Out, policy: Policy = Policy(), wait: bool = True
               ) -> list[dict[str, Any]]:
    """Look at every serving unit (containers when Docker answers, local processes) once and act."""
    actions: list[dict[str, Any]] = []
    now = time.time()
    for unit in all_units(client):
        status, health = unit.state()
        if status == "running" and health != "unhealthy":
            continue
        if store.events({"kind": "gave_up", "container": unit.name}):
            continue
        why = f"{status}" + (f", {health}" if health else "")
        restarts = store.events({"kind": "restart", "container": unit.name})
        recent = [e for e in restarts if e["time"] > now - policy.window_s]
        if len(recent) >= policy.max_restarts:
            actions.append(_give_up(store, out, unit, why, len(recent), wait))
            continue
        delay = min(policy.backoff_s * 2 ** len(recent), policy.max_backoff_s)
        if recent and now - recent[-1]["time"] < delay:
            actions.append({"container": unit.name, "action": "backing off", "seconds": round(delay, 1)})
            continue
        out.info(f"watch: {unit.name} ({unit.project} v{unit.version}) is {why}; restarting it with the same model")
        unit.restart()
        store.add_event({"kind": "restart", "container": unit.name, "project": unit.project,
                         "version": unit.version, "reason": why})
        result = unit.wait_healthy(120) if wait else "started"
        out.info(f"watch: {unit.name} is {result}")
        actions.append({"container": unit.name, "action": "restarted", "result": result})
    return actions


def _give_up(store: Any, out: Out, unit: ServingUnit, why: str, restarts: int, wait: bool) -> dict[str, Any]:
    logs = unit.logs(20)
    what = f"{unit.name} failed {restarts} times within the restart window ({why}); no more restarts."
    action: dict[str, Any] = {"container": unit.name, "action": "gave up"}
    good = previous_good_version(store, unit.project, unit.version)
    if good is not None:
        new = unit.start_version(good["version"], out)
        state = new.wait_healthy() if wait else "started"
        if state in ("healthy", "started"):
            store.add_event({"kind": "deploy", "project": unit.project, "version": good["version"],
                             "container": new.name, "run_id": good.get("run_id"),
                             "image_kind": good.get("image_kind"), "rollback": True})
            what += f" Rolled back to model v{good['version']} ({new.name})."
            action.update(action="rolled back", to_version=good["version"], container_new=new.name)
            unit.remove()
        else:
            new.remove()
            what += f" The rollback to v{good['version']} failed too ({state})."
    store.add_event({"kind": "gave_up", "container": unit.name, "project": unit.project, "version": unit.version,
                     "why": why})
    out.fail(f"watch: {what}")
    alert(store, out, unit.project, unit.name, what, logs)
    return action


def watch(client: Any | None, store: Any, out: Out, interval: float = 5.0, policy: Policy = Policy(),
          stop: threading.Event | None = None) -> None:
    """Run until stopped: wake on Docker events for mlops containers, or every ``interval`` seconds."""
    stop = stop or threading.Event()
    wake = threading.Event()

    def follow_events() -> None:
        if client is None:
            return
        try:
            for _ in client.events(decode=True, filters={"type": "container", "label": "mlops.role"}):
                wake.set()
                if stop.is_set():
                    return
        except Exception as e:  # the event stream is an accelerator; polling still runs
            out.info(f"watch: Docker events unavailable ({type(e).__name__}); polling every {interval:g}s")

    threading.Thread(target=follow_events, daemon=True).start()
    out.info(f"watch: watching serving containers (events, and polling every {interval:g}s)")
    while not stop.is_set():
        check_once(client, store, out, policy, wait=False)
        wake.wait(interval)
        wake.clear()
