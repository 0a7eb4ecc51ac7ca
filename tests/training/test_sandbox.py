"""Every backend sandboxes its trials: one probe script, run on the local backend (bubblewrap, cold and warm) and,
when a Docker engine answers, in Docker, looks for what a hostile push would reach."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.infra.docker_engine import docker_client
from tests.conftest import mlops, write_project
from training.backends import Backend, DockerBackend, LocalBackend, TrialSpec
from training.backends._sandbox import bwrap

PROBE = """
import glob, os, socket, subprocess
found = []
for path in glob.glob("/proc/*/environ"):
    try:
        if {secret!r}.encode() in open(path, "rb").read():
            found.append(path)
    except OSError:
        pass
print("probe secret", found)
for project in ({project!r}, "/project"):
    for what, act in (("delete", lambda: os.remove(os.path.join(project, "precious.txt"))),
                      ("write", lambda: open(os.path.join(project, "injected.py"), "w").write("import os"))):
        try:
            act()
            print("probe project", what, "DONE", project)
        except OSError as e:
            print("probe project", what, "refused", type(e).__name__)
subprocess.Popen(["sleep", {sleep!r}], start_new_session=True)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("probe network CONNECTED")
except OSError as e:
    print("probe network refused", type(e).__name__)
for name, path in (("shadow", "/etc/shadow"), ("other", {other!r})):
    try:
        open(path).read()
        print("probe read", name, "DONE")
    except OSError as e:
        print("probe read", name, "refused", type(e).__name__)
import sklearn
print("accuracy 0.9")
"""


def _docker(warm: bool) -> Backend:
    client, reason = docker_client()
    if client is None:
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers: {reason}")
        pytest.skip(f"no Docker engine answers ({reason}); start one with scripts/start-dockerd")
    backend = DockerBackend(client, warm=warm)
    backend.prepare("ml", print)
    return backend


def need_bubblewrap() -> None:
    """Skip where bubblewrap cannot sandbox (fail with ``MLOPS_REQUIRE_BWRAP=1``, as in CI)."""
    if bwrap() is None:
        if os.environ.get("MLOPS_REQUIRE_BWRAP") == "1":
            pytest.fail("MLOPS_REQUIRE_BWRAP=1 but bubblewrap cannot make namespaces here")
        pytest.skip("bubblewrap cannot make namespaces here (apt-get install bubblewrap)")


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.slow),
                        pytest.param("local-warm", marks=pytest.mark.slow),
                        pytest.param("docker", marks=pytest.mark.docker),
                        pytest.param("docker-warm", marks=pytest.mark.docker)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param.startswith("local"):
        need_bubblewrap()
        request.getfixturevalue("ml_env")
        made: Backend = LocalBackend(warm=request.param == "local-warm")
    else:
        made = _docker(warm=request.param == "docker-warm")
    yield made
    made.close()


def processes_with(marker: str) -> list[int]:
    """Host processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on 127.0.0.1 (a host service the trial must not reach); yields its port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_trial_reaches_no_secret_project_file_process_port_or_other_project(
        backend: Backend, listener: int, tmp_path: Path, mlops_home: Path) -> None:
    secret = f"sekrit-{secrets.token_hex(8)}"
    sleep = f"{600 + secrets.randbelow(10_000) / 1000:.3f}"  # a duration no other process sleeps
    # a host process holding a secret in its environment, as `mlops run` or a serving unit does
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                              env={**os.environ, "JENKINS_TOKEN": secret})
    other = write_project(mlops_home / "runs" / "other-project", {"secret.txt": "theirs"}) / "secret.txt"
    project = tmp_path / "pushed"
    write_project(project, {"precious.txt": "keep me", "train.py": PROBE.format(
        secret=secret, project=str(project), sleep=sleep, port=listener, other=str(other))})
    run_dir = mlops_home / "runs" / "r1" / "trial-001"
    lines: list[str] = []
    try:
        result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=run_dir, env="ml",
                                             network=False, time_limit_s=120), lines.append)
        backend.close()  # the run ends
    finally:
        holder.kill()
    probes = "\n".join(line for line in lines if line.startswith("probe"))
    assert result.status == "ok", (result.error, lines)
    assert "probe secret []" in probes
    assert "DONE" not in probes and "CONNECTED" not in probes
    assert probes.count("probe project") == 4 and probes.count("probe read") == 2
    assert (project / "precious.txt").read_text() == "keep me" and not (project / "injected.py").exists()
    deadline = time.time() + 10
    while processes_with(f"sleep\0{sleep}") and time.time() < deadline:
        time.sleep(0.2)
    assert processes_with(f"sleep\0{sleep}") == []
    assert backend.sandbox_line("4g", 2, False).startswith(("sandbox: bubblewrap (pid", "sandbox: docker on"))


def test_a_warm_trial_leaves_nothing_running_for_the_next_one(ml_env: str, project_factory, tmp_path: Path,
                                                                mlops_home: Path) -> None:
    need_bubblewrap()
    sleep = f"{600 + secrets.randbelow(10_000) / 1000:.3f}"
    project = project_factory({"train.py": f"import subprocess, sklearn\n"
                                           f"subprocess.Popen(['sleep', '{sleep}'], start_new_session=True)\n"
                                           "print('accuracy 0.9')\n"})
    backend = LocalBackend(warm=True)
    try:
        result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=mlops_home / "r" / "t1",
                                             env="ml"), print)
        assert result.status == "ok" and result.where.endswith("(warm)")
        deadline = time.time() + 10
        while processes_with(f"sleep\0{sleep}") and time.time() < deadline:
            time.sleep(0.2)
        assert processes_with(f"sleep\0{sleep}") == []  # gone with its trial, while the zygote lives on
    finally:
        backend.close()


def test_a_local_trial_over_its_memory_limit_is_told_so(ml_env: str, project_factory, mlops_home: Path) -> None:
    backend = LocalBackend(warm=False)
    if "memory 300m via cgroup" not in backend.sandbox_line("300m", 1, False):
        pytest.skip("no writable cgroup here: memory is not enforced (the sandbox line says so)")
    project = project_factory({"train.py": "import sklearn\nx = bytearray(2**30)\nprint('accuracy 0.9')\n"})
    result = backend.run_trial(TrialSpec(project=project, entry="train.py", run_dir=mlops_home / "r" / "t1",
                                         env="ml", memory="300m", restarts=0), print)
    assert result.status == "failed" and result.error_kind == "out_of_memory", result.error
    assert "ran out of memory (limit 300m)" in (result.error or "")


HOOKED = {"JENKINS_URL": "", "BUILD_ID": "", "JENKINS_HOME": "", "MLOPS_BWRAP": "", "DOCKER_HOST": "unix:///nonexistent"}


@pytest.mark.slow
def test_auto_refuses_a_push_from_jenkins_when_nothing_can_sandbox_it(project_factory) -> None:
    project = project_factory({"train.py": "import sklearn\nprint('accuracy 0.9')\n"})
    refused = mlops("run", str(project), env={**HOOKED, "BUILD_ID": "7", "MLOPS_ALLOW_UNSANDBOXED": ""})
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() + refused.stdout.splitlines() if "refusing" in line]
    assert len(errors) == 1 and "Jenkins (BUILD_ID is set)" in errors[0] and "MLOPS_ALLOW_UNSANDBOXED=1" in errors[0]
    assert "Traceback" not in refused.stderr


@pytest.mark.usefixtures("ml_env")
def test_the_operator_lets_it_run_unsandboxed_and_every_run_says_so(project_factory) -> None:
    project = project_factory({"train.py": "import sklearn\nprint('accuracy 0.9')\n"})
    done = mlops("run", str(project), "--max-trials", "1",
                 env={**HOOKED, "BUILD_ID": "7", "MLOPS_ALLOW_UNSANDBOXED": "1"})
    assert "refusing" not in done.stdout + done.stderr
    assert "accuracy=0.9000" in done.stdout, done.stdout  # the trial ran, unsandboxed: and the run says so
    assert "sandbox: NONE (MLOPS_BWRAP is empty;" in done.stdout


@pytest.mark.slow
def test_the_git_hook_refuses_a_push_when_nothing_can_sandbox_it(tmp_path: Path) -> None:
    git_env = {**os.environ, **HOOKED, "MLOPS_ALLOW_UNSANDBOXED": "", "GIT_AUTHOR_NAME": "ds",
               "GIT_AUTHOR_EMAIL": "ds@example.com", "GIT_COMMITTER_NAME": "ds",
               "GIT_COMMITTER_EMAIL": "ds@example.com"}
    bare, work = tmp_path / "models.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    assert mlops("hook", "install", str(bare)).returncode == 0
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    write_project(work, {"train.py": "import sklearn\nprint('accuracy 0.9')\n"})
    for args in (["add", "."], ["commit", "-q", "-m", "a model"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=git_env)
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD"], cwd=work, capture_output=True, text=True,
                          env=git_env, timeout=300)
    refusals = [line for line in push.stderr.splitlines() if "refusing to run a push from the git hook" in line]
    assert len(refusals) == 1 and "MLOPS_ALLOW_UNSANDBOXED=1" in refusals[0], push.stderr
    assert "trial 1" not in push.stderr and "Traceback" not in push.stderr
