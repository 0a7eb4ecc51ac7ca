"""``mlops watch``: keep serving containers (or, without Docker, local serving processes) alive.

A serving unit that exited or turned unhealthy is restarted with the same model (its model version is
mounted, so a restart serves the last good model), with exponential back-off. After ``max_restarts``
restarts within ``window_s`` it is a crash loop: if an earlier version of the project served well, that
version is deployed instead and ``production`` is moved back to it (a recorded rollback); either way the
watchdog stops restarting the unit and mails one alert. Every incident is an event in the run store, and
one failing unit never stops the watch of the others.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
from typing import Any

from core.console import Out
from core.errors import MlopsError
from core.records import Event
from core.registry import PRODUCTION, Registry
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


class Watchdog:
    """Supervises every serving unit of this machine.

    Args:
        registry: The registry (and through it the run store).
        out: Where to say what it does.
        client: A Docker client, or ``None`` (local serving processes only).
        policy: The restart policy.
    """

    def __init__(self, registry: Registry, out: Out, client: Any | None = None, policy: Policy | None = None) -> None:
        self.registry, self.store, self.out = registry, registry.store, out
        self.client, self.policy = client, policy or Policy()

    def check_once(self, wait: bool = True) -> list[dict[str, Any]]:
        """Look at every serving unit once and act; a unit that cannot be handled is reported and skipped."""
        actions: list[dict[str, Any]] = []
        try:
            units = all_units(self.client)
        except MlopsError as e:
            self.out.fail(f"watch: cannot list the serving units: {e}")
            return actions
        for unit in units:
            try:
                action = self._check(unit, wait)
            except (MlopsError, OSError) as e:  # one unit that cannot be handled never stops the watch
                self.out.fail(f"watch: {unit.name}: {e}")
                action = {"container": unit.name, "action": "error", "error": f"{type(e).__name__}: {e}"}
            if action:
                actions.append(action)
        return actions

    def _check(self, unit: ServingUnit, wait: bool) -> dict[str, Any] | None:
        status, health = unit.state()
        if status == "running" and health != "unhealthy":
            return None
        if self.store.events("gave_up", container=unit.name):
            return None
        why = f"{status}" + (f", {health}" if health else "")
        now = time.time()
        recent = [e for e in self.store.events("restart", container=unit.name) if e.time > now - self.policy.window_s]
        if len(recent) >= self.policy.max_restarts:
            return self._give_up(unit, why, len(recent), wait)
        delay = min(self.policy.backoff_s * 2 ** len(recent), self.policy.max_backoff_s)
        if recent and now - recent[-1].time < delay:
            return {"container": unit.name, "action": "backing off", "seconds": round(delay, 1)}
        self.out.info(f"watch: {unit.name} ({unit.project} v{unit.version}) is {why}; "
                      "restarting it with the same model")
        unit.restart()
        self.store.add_event(Event(type="restart", container=unit.name, project=unit.project,
                                   version=unit.version, reason=why))
        result = unit.wait_healthy(120) if wait else "started"
        self.out.info(f"watch: {unit.name} is {result}")
        return {"container": unit.name, "action": "restarted", "result": result}

    def previous_good_version(self, project: str, current: int) -> int | None:
        """The version to roll back to: the most recent other version that was deployed healthy."""
        deployed = [e.version for e in reversed(self.store.events("deploy", project=project))  # type: ignore[attr-defined]
                    if e.version != current]  # type: ignore[attr-defined]
        for version in self.registry.previous_holders(project, PRODUCTION):
            if version != current and version in deployed:
                return version
        return deployed[0] if deployed else None

    def _give_up(self, unit: ServingUnit, why: str, restarts: int, wait: bool) -> dict[str, Any]:
        logs = unit.logs(20)
        what = f"{unit.name} failed {restarts} times within the restart window ({why}); no more restarts."
        action: dict[str, Any] = {"container": unit.name, "action": "gave up"}
        good = self.previous_good_version(unit.project, unit.version)
        if good is not None:
            new = unit.start_version(self.registry, good, self.out)
            state = new.wait_healthy() if wait else "started"
            if state in ("healthy", "started"):
                self.registry.promote(unit.project, good, PRODUCTION,
                                      why=f"rollback: v{unit.version} crash-looped in {unit.name}", by="mlops watch")
                self.store.add_event(Event(type="deploy", project=unit.project, version=good, container=new.name,
                                           env=unit.env, rollback=True))
                what += f" Rolled back to model v{good} ({new.name})."
                action.update(action="rolled back", to_version=good, container_new=new.name)
                unit.remove()
            else:
                new.remove()
                what += f" The rollback to v{good} failed too ({state})."
        self.store.add_event(Event(type="gave_up", container=unit.name, project=unit.project,
                                   version=unit.version, why=why))
        self.out.fail(f"watch: {what}")
        self.alert(unit.project, unit.name, what, logs)
        return action

    def alert(self, project: str, container: str, what: str, logs: str) -> None:
        """Mail one alert (same mail module as the reports) and record it."""
        from core.notify import compose, deliver, recipients_for
        from core.notify.mail import sender_address

        deploy = next(reversed(self.store.events("deploy", container=container)), None)
        run = self.store.get_run(deploy.run_id) if deploy and deploy.run_id else None
        subject = f"[mlops] ALERT {project}: serving container {container} keeps failing"
        text = f"{what}\n\nContainer: {container}\nProject: {project}\n\nLast log lines:\n{logs}\n"
        body = (f"<h3>{html.escape(subject)}</h3><p>{html.escape(what)}</p><pre>{html.escape(logs)}</pre>")
        result = deliver(compose(subject, text, body, sender_address(), recipients_for(run)), self.out)
        self.store.add_event(Event(type="alert", project=project, container=container, what=what, **result))

    def watch(self, interval: float = 5.0, stop: threading.Event | None = None) -> None:
        """Run until stopped: wake on Docker events for mlops containers, or every ``interval`` seconds."""
        stop = stop or threading.Event()
        wake = threading.Event()

        def follow_events() -> None:
            if self.client is None:
                return
            try:
                for _ in self.client.events(decode=True, filters={"type": "container", "label": "mlops.role"}):
                    wake.set()
                    if stop.is_set():
                        return
            except Exception as e:  # the event stream is an accelerator; polling still runs
                self.out.info(f"watch: Docker events unavailable ({type(e).__name__}); polling every {interval:g}s")

        threading.Thread(target=follow_events, daemon=True).start()
        self.out.info(f"watch: watching serving units (events, and polling every {interval:g}s)")
        while not stop.is_set():
            self.check_once(wait=False)
            wake.wait(interval)
            wake.clear()
