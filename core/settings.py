"""Operator settings declared once: each names its environment variable, its default, how its text is read and
what it is for; ``Setting.get`` is the one reader of the environment.

These are the settings of the machine and of whoever runs mlops (where state lives, the store, SMTP, Jenkins, the
sandbox, serving limits), never of a project: a project's settings are ``mlops.yaml`` fields
(``core.config.ProjectConfig``), some of which an ``MLOPS_*`` variable or a flag overrides. ``mlops config`` lists
both.

Standard library only: the serving package, shipped alone into its image, imports this module (and nothing else
of the core); the serving image is built with this file beside the serving package.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: What a setting is about, in the order ``mlops config`` lists them.
GROUPS = {
    "state": "where mlops keeps its state",
    "store": "the run store",
    "mail": "sending the report",
    "docker": "Docker engines and images",
    "sandbox": "what trials may do",
    "jenkins": "Jenkins and the git hook",
    "serving": "serving units (kept with each unit, so a restart starts it the same way)",
    "internal": "set by mlops for its own child processes",
    "console": "the terminal",
}


class SettingError(ValueError):
    """An environment variable has a value its setting cannot read; the message names the variable."""


def environment() -> Mapping[str, str]:
    """This process's environment, the mapping every setting is read from by default."""
    return os.environ


@dataclass(frozen=True)
class Setting:
    """One operator setting, read from its environment variable.

    Attributes:
        env: The variable.
        description: What it is for (and its default when that is computed, e.g. from ``MLOPS_HOME``).
        group: One of ``GROUPS``.
        default: The value when the variable is unset (or empty).
        parse: Text -> value; raises ``ValueError`` with what a value must be ("must be ..."). Default: the text.
        secret: Never shown (``mlops config`` says only whether it is set).
        empty_is_unset: Whether an empty value means the default (``MLOPS_BWRAP=`` means "no bubblewrap").
    """

    env: str
    description: str
    group: str
    default: Any = None
    parse: Callable[[str], Any] | None = None
    secret: bool = False
    empty_is_unset: bool = True

    def text(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The variable's text, ``None`` when it is unset (or empty, unless ``empty_is_unset`` is false)."""
        value = (environment() if environ is None else environ).get(self.env)
        return None if value is None or (self.empty_is_unset and not value.strip()) else value

    def is_set(self, environ: Mapping[str, str] | None = None) -> bool:
        """Whether the variable gives a value (else the default applies)."""
        return self.text(environ) is not None

    def get(self, environ: Mapping[str, str] | None = None) -> Any:
        """The value: the variable's text read by ``parse``, or the default.

        Raises:
            SettingError: The text is not a value of this setting (``<VARIABLE> must be ..., but got '...'``).
        """
        value = self.text(environ)
        if value is None:
            return self.default
        if self.parse is None:
            return value
        try:
            return self.parse(value)
        except ValueError as e:
            raise SettingError(f"{self.env} {e}, but got {value!r}") from None

    def shown(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The text as ``mlops config`` shows it: a secret as ``(set)``."""
        value = self.text(environ)
        return "(set)" if value is not None and self.secret else value


DECLARED: dict[str, Setting] = {}


def declare(env: str, description: str, group: str, **kwargs: Any) -> Setting:
    """Declare a setting (once: a variable declared twice is a mistake in this file)."""
    if env in DECLARED or group not in GROUPS:
        raise RuntimeError(f"{env}: declared twice or unknown group {group!r}")
    DECLARED[env] = setting = Setting(env, description, group, **kwargs)
    return setting


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError("must be a whole number of at least 1")
    return int(text)


def one(text: str) -> bool:
    """``1`` turns a switch on; anything else leaves it off."""
    return text == "1"


def not_zero(text: str) -> bool:
    """``0`` turns a switch off; anything else leaves it on."""
    return text != "0"


def not_off(text: str) -> bool:
    """``off``, ``0``, ``false`` or ``no`` turn a switch off."""
    return text.strip().lower() not in ("off", "0", "false", "no")


# Where mlops keeps its state (core.paths)
HOME = declare("MLOPS_HOME", "runs, the embedded store, the registry and the outbox (default ~/.mlops)", "state")
CACHE_DIR = declare("MLOPS_CACHE_DIR", "virtualenvs shared by all runs (default ~/.cache/mlops)", "state")
OUTBOX = declare("MLOPS_OUTBOX", "mail not sent over SMTP, as .eml files (default $MLOPS_HOME/outbox)", "state")
REGISTRY = declare("MLOPS_REGISTRY", "pushed models, one folder per version (default $MLOPS_HOME/registry)",
                   "state")

# The run store
MONGODB_URI = declare("MONGODB_URI", "the run store's MongoDB (and the serving units' capture); unset: the "
                                     "embedded store in $MLOPS_HOME", "store", secret=True)

# Mail (core.notify.mail)
SMTP_HOST = declare("SMTP_HOST", "the SMTP server; unset: every report goes to the outbox", "mail")
SMTP_PORT = declare("SMTP_PORT", "its port (default 465 for ssl, 587 for starttls, 25 for none)", "mail")
SMTP_USER = declare("SMTP_USER", "the login", "mail")
SMTP_PASSWORD = declare("SMTP_PASSWORD", "its password", "mail", secret=True)
SMTP_TLS = declare("SMTP_TLS", "ssl, starttls or none", "mail", default="starttls")
MAIL_FROM = declare("MLOPS_MAIL_FROM", "the sender (default SMTP_USER, else mlops@localhost)", "mail")

# Docker engines and images
DOCKER_HOST = declare("DOCKER_HOST", "the local Docker engine (default unix:///var/run/docker.sock)", "docker")
BASE_IMAGE = declare("MLOPS_BASE_IMAGE", "the image trial images are built on", "docker",
                     default="python:3.11-slim")

# What trials may do
ALLOW_UNSANDBOXED = declare("MLOPS_ALLOW_UNSANDBOXED", "1: run pushes without a sandbox where --backend auto would "
                                                       "refuse", "sandbox", default=False, parse=one)
BWRAP = declare("MLOPS_BWRAP", "the bubblewrap program of local trials; empty: bubblewrap is not used", "sandbox",
                default="bwrap", empty_is_unset=False)
ALLOW_SOURCE_BUILDS = declare("MLOPS_ALLOW_SOURCE_BUILDS", "1: packages may be built from source (outside the "
                                                           "trial's sandbox), not only installed from wheels",
                              "sandbox", default=False, parse=one)
WARM = declare("MLOPS_WARM", "0: every trial starts cold (no zygote, no warm container)", "sandbox", default=True,
               parse=not_zero)
HARNESS_STRICT = declare("MLOPS_HARNESS_STRICT", "1: the harness's hook warnings are failures (the tests)",
                         "sandbox", default=False, parse=one)

# Jenkins and the git hook
JENKINS_URL = declare("JENKINS_URL", "the Jenkins that pushes and retrains trigger; unset: they run here",
                      "jenkins")
JENKINS_JOB = declare("JENKINS_JOB", "the job the git hook triggers", "jenkins", default="mlops-train")
RETRAIN_JOB = declare("MLOPS_RETRAIN_JOB", "the job a live-accuracy drop triggers", "jenkins",
                      default="mlops-retrain")
JENKINS_USER = declare("JENKINS_USER", "the user triggering Jenkins jobs", "jenkins")
JENKINS_TOKEN = declare("JENKINS_TOKEN", "its API token", "jenkins", secret=True)
JENKINS_API_USR = declare("JENKINS_API_USR", "the user as the monitor job binds the mlops-jenkins-api credential",
                          "jenkins")
JENKINS_API_PSW = declare("JENKINS_API_PSW", "its token, bound the same way", "jenkins", secret=True)
PROJECT_DIR = declare("MLOPS_PROJECT_DIR", "the project's folder within the repository (the git hook)", "jenkins",
                      default=".")
HOOK_BACKEND = declare("MLOPS_BACKEND", "where the git hook's trials run: auto, local or docker", "jenkins",
                       default="auto")
USER = declare("MLOPS_USER", "who acts, in the registry's history (default BUILD_USER_ID, BUILD_TAG, the login)",
               "jenkins")
BUILD_USER_ID = declare("BUILD_USER_ID", "set by Jenkins: the user who started the build", "jenkins")
BUILD_TAG = declare("BUILD_TAG", "set by Jenkins: the build's tag", "jenkins")
BUILD_URL = declare("BUILD_URL", "set by Jenkins: the build's page, linked from the report", "jenkins")
BUILD_ID = declare("BUILD_ID", "set by Jenkins: a push runs here (--backend auto needs a sandbox)", "jenkins")
JENKINS_HOME = declare("JENKINS_HOME", "set by Jenkins: a push runs here (--backend auto needs a sandbox)",
                       "jenkins")

# Serving units (monitor/serving reads them; a unit keeps the ones of UNIT in its record or container)
MODEL_DIR = declare("MLOPS_MODEL_DIR", "the model version a serving process serves", "serving", default="/model")
SERVE_WORKERS = declare("MLOPS_SERVE_WORKERS", "serving worker processes (default: the usable CPUs)", "serving",
                        parse=positive_int)
CAPTURE_DIR = declare("MLOPS_CAPTURE_DIR", "without MONGODB_URI, predictions are captured in a SQLite spool here",
                      "serving")
CAPTURE = declare("MLOPS_CAPTURE", "off: predictions are not kept, even with a store", "serving", default=True,
                  parse=not_off)
CAPTURE_RETENTION = declare("MLOPS_CAPTURE_RETENTION", "captured predictions kept per project", "serving",
                            default=100_000, parse=positive_int)
FEEDBACK_TOKEN = declare("MLOPS_FEEDBACK_TOKEN", "the token POST /feedback and /review ask for; unset: feedback "
                                                 "is refused", "serving", secret=True)
PREDICT_MAX_MB = declare("MLOPS_PREDICT_MAX_MB", "largest /predict body in MB (413 beyond)", "serving", default=10,
                         parse=positive_int)
PREDICT_MAX_ROWS = declare("MLOPS_PREDICT_MAX_ROWS", "most rows one /predict may carry (413 beyond)", "serving",
                           default=10_000, parse=positive_int)
CAPTURE_MAX_ROWS = declare("MLOPS_CAPTURE_MAX_ROWS", "rows of one /predict that are captured, the first ones",
                           "serving", default=1000, parse=positive_int)
#: What a serving unit is started with from the environment of the command that starts it (``mlops deploy``),
#: kept with the unit so that a restart or a rollback starts it the same way.
UNIT = (FEEDBACK_TOKEN, CAPTURE, CAPTURE_RETENTION, PREDICT_MAX_MB, PREDICT_MAX_ROWS, CAPTURE_MAX_ROWS)

# Set by mlops for its own child processes
TRIAL_CPUS = declare("MLOPS_CPUS", "the CPUs of a trial, for the harness's thread pools", "internal")
SERVE_SUPERVISOR = declare("MLOPS_SERVE_SUPERVISOR", "the pid of the serving supervisor, for its workers",
                           "internal", parse=positive_int)
SERVE_READY_DIR = declare("MLOPS_SERVE_READY_DIR", "where serving workers say they have loaded the model",
                          "internal")
MULTIPROC_DIR = declare("PROMETHEUS_MULTIPROC_DIR", "prometheus-client's value files, shared by serving workers",
                        "internal")

# The terminal
NO_COLOR = declare("NO_COLOR", "set: no colours in the output", "console")
