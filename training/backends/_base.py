"""What every backend does: run one trial of the harness somewhere, supervised, and report the result."""

from __future__ import annotations

import abc

from core.infra.requirements import NO_PACKAGES, Packages
from training.backends._capacity import Capacity, this_machine
from training.backends._supervise import supervise
from training.backends._trial import OutputSink, TrialProcess, TrialResult, TrialSpec

#: A program that prints, as JSON, which of the module names in argv cannot be imported (not importing them).
PROBE = ("import importlib.util, json, sys\n"
         "def missing(n):\n"
         "    try:\n"
         "        return importlib.util.find_spec(n) is None\n"
         "    except (ImportError, ValueError):\n"
         "        return True\n"
         "print(json.dumps([n for n in sys.argv[1:] if missing(n)]))\n")


class Backend(abc.ABC):
    """Runs trials in a fresh process: a local virtualenv, or a container; supervision is shared."""

    name: str = ""

    @abc.abstractmethod
    def prepare(self, env: str, say: OutputSink, packages: Packages = NO_PACKAGES) -> str:
        """Make the environment ready (with a project's packages; build or reuse); return a description."""

    @abc.abstractmethod
    def launch(self, spec: TrialSpec) -> TrialProcess:
        """Create (not start) the process or container of one trial."""

    def missing_modules(self, env: str, names: list[str]) -> list[str]:
        """Which of these top-level modules the environment (prepared) cannot import; by default: none."""
        return []

    def capacity(self) -> Capacity:
        """The most a trial can get here (``trial.cpus`` and ``trial.memory`` are bounded by it): this machine's
        CPUs and memory by default."""
        return this_machine()

    def sandbox_line(self, memory: str, cpus: float, network: bool) -> str:
        """One line naming the sandbox its trials get with these limits (``sandbox: ...``)."""
        return "sandbox: NONE (this backend does not isolate trials)"

    def stop_trial(self, labels: dict[str, str]) -> None:  # noqa: B027 - a process dies with its worker
        """Stop what is left of a trial whose worker died (its ``TrialSpec.labels``); no-op by default."""

    def close(self) -> None:  # noqa: B027 - most backends keep nothing between trials
        """The run is over: release what the backend keeps between trials (warm containers); no-op by default."""

    def run_trial(self, spec: TrialSpec, output: OutputSink) -> TrialResult:
        """Run one trial to completion (or its time limit), restarting it when it is killed from outside."""
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        return supervise(spec, self.launch(spec), output)
