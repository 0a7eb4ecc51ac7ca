"""What a live check that fell under the threshold starts: one alert mail, an event, and a retrain - the Jenkins
``mlops-retrain`` job over its REST API when ``JENKINS_URL`` is set, else ``mlops retrain`` in the background -
at most once per cool-down.
"""

from __future__ import annotations

import html
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core import paths, settings
from core.config import Monitoring
from core.console import Out
from core.errors import MlopsError
from core.records import Event, LiveCheck
from core.registry import Registry


def start_retrain(project: str, project_dir: Path, reason: str, out: Out
                  ) -> tuple[dict[str, Any], subprocess.Popen[bytes] | None]:
    """Start the retrain: the Jenkins job when ``JENKINS_URL`` is set, else ``mlops retrain`` as a background
    process (its output in ``$MLOPS_HOME/retrains/``). Returns how it was started, and the local process.

    Raises:
        MlopsError: Jenkins refused or could not be reached.
    """
    url = settings.JENKINS_URL.get()
    if url:
        import jenkins

        job = settings.RETRAIN_JOB.get()
        # JENKINS_API_USR/_PSW: the mlops-jenkins-api credential as the Jenkins monitor job binds it
        server = jenkins.Jenkins(url, username=settings.JENKINS_USER.get() or settings.JENKINS_API_USR.get(),
                                 password=settings.JENKINS_TOKEN.get() or settings.JENKINS_API_PSW.get(),
                                 timeout=20)
        try:
            queued = server.build_job(job, {"PROJECT_DIR": str(project_dir), "REASON": reason})
        except (jenkins.JenkinsException, OSError) as e:
            raise MlopsError(f"cannot start Jenkins job {job} at {url}: {e}") from e
        out.info(f"monitor: started Jenkins job {job} for {project} ({url})")
        return {"how": "jenkins", "job": job, "url": url, "queue_item": queued}, None
    logs = paths.home() / "retrains"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{project}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mlops", "retrain", str(project_dir), "--reason", reason],
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**settings.environment(), "NO_COLOR": "1"})
    out.info(f"monitor: started 'mlops retrain {project_dir}' in the background (pid {proc.pid}, log {log})")
    return {"how": "local", "pid": proc.pid, "log": str(log)}, proc


def wait_retrain(proc: subprocess.Popen[bytes], log: Path, out: Out) -> int:
    """Wait for a local retrain; say how it ended (its exit code and its log's last line)."""
    out.info(f"monitor: waiting for the retrain (pid {proc.pid})")
    code = proc.wait()
    last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
    (out.ok if code == 0 else out.fail)(f"monitor: the retrain ended with exit code {code}"
                                        + (f": {last[0].strip()}" if last else ""))
    return code


def act(check: LiveCheck, cfg: Monitoring, registry: Registry, project_dir: Path | None, out: Out,
        now: float | None = None, wait: bool = False) -> dict[str, Any]:
    """Act on a check: nothing unless it is under the threshold; then, outside the cool-down, one alert mail, an
    event and (unless ``monitoring.retrain`` is false) a retrain, waited for with ``wait`` when it runs here.

    Returns:
        ``{"action": "none" | "cooldown" | "alerted" | "retrain", ...}``.
    """
    if check.decision != "under_threshold":
        return {"action": "none"}
    now = now or time.time()
    store = registry.store
    started = [e for e in store.events("retrain_started", project=check.project)]
    alerts = [e for e in store.events("live_alert", project=check.project)]
    last = max([e.time for e in [*started, *alerts]], default=None)
    if last is not None and now - last < cfg.cooldown_minutes * 60:
        until = last + cfg.cooldown_minutes * 60
        out.info(f"monitor: {check.project}: {check.reason}; in the cool-down until "
                 f"{time.strftime('%H:%M:%S', time.gmtime(until))} UTC (cooldown_minutes {cfg.cooldown_minutes:g})")
        return {"action": "cooldown", "until": until}
    alert(check, registry, out, will_retrain=cfg.retrain)
    if not cfg.retrain:
        return {"action": "alerted"}
    if project_dir is None:
        out.fail(f"monitor: {check.project}: no project folder known to retrain from (run 'mlops monitor' on the "
                 "project's folder)")
        return {"action": "alerted", "error": "no project folder"}
    how, proc = start_retrain(check.project, project_dir, check.reason, out)
    store.add_event(Event(type="retrain_started", project=check.project, version=check.model_version,
                          reason=check.reason, accuracy=check.accuracy, labels=check.labels,
                          project_dir=str(project_dir), **how))
    if wait and proc is not None:  # --wait: the check returns once the retrain it started has ended
        return {"action": "retrain", **how, "exit_code": wait_retrain(proc, Path(how["log"]), out)}
    return {"action": "retrain", **how}


def alert(check: LiveCheck, registry: Registry, out: Out, will_retrain: bool) -> None:
    """Mail one alert (the same mail module as the reports) and record it."""
    from core.notify import compose, deliver, recipients_for
    from core.notify.mail import sender_address

    store = registry.store
    run = next(iter(store.find_runs(project=check.project, limit=1)), None)
    subject = f"[mlops] ALERT {check.project}: live accuracy under {check.threshold:g}"
    then = "A retrain has been started with the users' labels added." if will_retrain else \
        "monitoring.retrain is false: no retrain was started."
    drift = f"Drift share of the served rows: {check.drift_share:.0%}." if check.drift_share is not None else ""
    text = f"{check.reason}.\n{then}\n{drift}\n"
    body = f"<h3>{html.escape(subject)}</h3><p>{html.escape(check.reason)}.</p><p>{html.escape(then)}</p>" + \
        (f"<p>{html.escape(drift)}</p>" if drift else "")
    result = deliver(compose(subject, text, body, sender_address(), recipients_for(run)), out)
    store.add_event(Event(type="live_alert", project=check.project, version=check.model_version,
                          accuracy=check.accuracy, labels=check.labels, reason=check.reason, **result))
