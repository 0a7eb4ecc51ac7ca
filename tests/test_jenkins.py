"""The Jenkins files, checked here where Jenkins cannot run: lint, every mlops call, configuration, the hook."""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import typer.main
import yaml
from typer.core import TyperGroup
from typer.testing import CliRunner

from core.store import get_run_store
from mlops.cli import app
from mlops.cli.stages import derive_stage_commands
from mlops.pipeline.context import RunContext
from mlops.pipeline.stages import POST_ALWAYS, STAGES, BaseStage, Stage
from tests.conftest import EXAMPLES, ROOT

try:  # typer >= 0.16 vendors click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click import UsageError

JENKINS_FILES = [ROOT / "Jenkinsfile", *sorted((ROOT / "jenkins" / "jobs").glob("*.groovy"))]


def mlops_calls(text: str) -> list[str]:
    """Every ``mlops ...`` command line in the single-quoted strings of a Groovy file."""
    return re.findall(r"'(mlops(?: [^']*)?)'", text)


def check_parses(command_line: str, cli: typer.Typer = app) -> None:
    """Parse a command line with the real CLI's parser, without running it.

    Raises:
        UsageError: Unknown command or option, or a missing argument.
    """
    argv = shlex.split(command_line)[1:]
    command = typer.main.get_command(cli)
    ctx = command.make_context("mlops", list(argv), resilient_parsing=False) if argv != ["--version"] else None
    while ctx is not None and isinstance(command, TyperGroup):
        protected = getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])
        rest = [*protected, *ctx.args]  # the subcommand's name is kept apart from its arguments
        if not rest:
            return
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)


def check_jenkinsfile(text: str, stages: tuple[Stage, ...]) -> None:
    """The Jenkinsfile has the stage list, each stage exactly its mlops call(s), and the post calls.

    Raises:
        AssertionError: It does not.
    """
    body = text.split("stages {", 1)[1].split("\n    post {", 1)[0]
    blocks = re.split(r"stage\('([^']+)'\)", body)[1:]
    found = dict(zip(blocks[::2], blocks[1::2], strict=True))
    assert list(found) == [s.name for s in stages]
    for stage in stages:
        assert mlops_calls(found[stage.name]) == stage.calls, stage.name
        if stage.workers:  # the controller's call and, in parallel, the workers' call on each agent
            block = found[stage.name]
            assert "parallel branches" in block and "node(params.AGENT_LABEL)" in block
            assert block.index(stage.command) < block.index("node(params.AGENT_LABEL)") < block.index(stage.workers)
    parameters = re.findall(r"string\(name: '([A-Z_]+)'", text)
    assert {"AGENTS", "AGENT_LABEL"} <= set(parameters)
    post = text.split("\n    post {", 1)[1]
    assert [c for c in mlops_calls(post)] == list(POST_ALWAYS)


def test_the_jenkinsfile_has_the_stage_list_each_stage_exactly_its_one_mlops_call() -> None:
    check_jenkinsfile((ROOT / "Jenkinsfile").read_text(), STAGES)


@dataclass(frozen=True)
class Smoke(BaseStage):
    """A stage added to the list by a test: it says that it ran."""

    def run(self, ctx: RunContext) -> None:
        ctx.out.info(f"smoke test of {ctx.name}")


SMOKE_STAGE = """        stage('Smoke test') {
            steps {
                sh 'mlops smoke "$PROJECT_DIR"'
            }
        }
"""


def test_a_stage_added_to_the_list_is_a_command_and_the_jenkinsfile_check_wants_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    smoke = Smoke("Smoke test", 'mlops smoke "$PROJECT_DIR"')
    stages = (*STAGES[:2], smoke, *STAGES[2:])  # after Validate data
    text = (ROOT / "Jenkinsfile").read_text()
    with pytest.raises(AssertionError):
        check_jenkinsfile(text, stages)
    check_jenkinsfile(text.replace("        stage('Detect')", SMOKE_STAGE + "        stage('Detect')", 1), stages)
    monkeypatch.setattr("mlops.cli.stages.STAGES", stages)
    monkeypatch.setattr("mlops.pipeline.run.STAGES", stages)
    cli = copy.deepcopy(app)
    with pytest.raises(UsageError):
        check_parses("mlops smoke .", cli)
    derive_stage_commands(cli)
    check_parses("mlops smoke .", cli)
    shown = " ".join(CliRunner().invoke(cli, ["smoke", "--help"]).output.split())
    assert "Jenkins stage \"Smoke test\": run the stages of 'mlops run' up to and including" in shown
    (tmp_path / "train.py").write_text("print('accuracy', 1.0)\n")
    ran = CliRunner().invoke(cli, ["smoke", str(tmp_path)])
    assert ran.exit_code == 0 and f"smoke test of {tmp_path.name}" in ran.output, ran.output


def test_every_mlops_call_in_the_jenkins_files_parses() -> None:
    calls = [(path.name, call) for path in JENKINS_FILES for call in mlops_calls(path.read_text())]
    assert len(calls) >= 11
    for name, call in calls:
        try:
            check_parses(call)
        except UsageError as e:
            pytest.fail(f"{name}: '{call}' does not parse: {e.format_message()}")


@pytest.mark.parametrize("bad", ["mlops trian .", "mlops train . --no-such-flag", "mlops evaluate",
                                 "mlops hook instal x"])
def test_the_call_checker_catches_what_does_not_exist(bad: str) -> None:
    with pytest.raises(UsageError):
        check_parses(bad)


#: The mlops commands that may start a serving unit: a deploy, a rollback (``watch``), a retrain's deploy, and the
#: retrain that ``monitor`` starts itself without Jenkins.
STARTS_UNITS = ("deploy", "watch", "retrain", "monitor", "run", "serve")
TOKEN_BINDING = "MLOPS_FEEDBACK_TOKEN = credentials('mlops-feedback-token')"


def test_every_stage_that_starts_a_serving_unit_binds_the_feedback_token_and_no_other_stage_does() -> None:
    starting = []
    for path in JENKINS_FILES:
        text = path.read_text()
        own_environment = text.split("stages {", 1)[0]  # the pipeline's, seen by all its stages
        blocks = re.split(r"stage\('([^']+)'\)", text)
        for name, block in zip(blocks[1::2], blocks[2::2], strict=True):
            calls = [c for c in mlops_calls(block) if c.split()[1:2] and c.split()[1] in STARTS_UNITS]
            bound = TOKEN_BINDING in block or TOKEN_BINDING in own_environment
            if calls:
                starting.append(name)
                assert bound, f"{path.name}: stage '{name}' runs {calls} without binding the feedback token"
            elif path.name == "Jenkinsfile":  # its other stages run the pushed code: they never see the token
                assert not bound, f"Jenkinsfile: stage '{name}' sees the feedback token but starts no unit"
    assert {"Deploy", "Watch", "Live accuracy", "Retrain"} <= set(starting)


@pytest.mark.slow
def test_groovy_lint_finds_no_errors() -> None:
    linter = shutil.which("npm-groovy-lint")
    if linter is None:
        if os.environ.get("MLOPS_REQUIRE_GROOVY_LINT") == "1":
            pytest.fail("npm-groovy-lint is not installed (npm install -g npm-groovy-lint@15)")
        pytest.skip("npm-groovy-lint is not installed (npm install -g npm-groovy-lint@15)")
    proc = subprocess.run([linter, "--failon", "error", "--noserver", "--output", "json",
                           *[str(p.relative_to(ROOT)) for p in JENKINS_FILES]],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["summary"]["totalFoundErrorNumber"] == 0
    assert len(report["files"]) == len(JENKINS_FILES)


def jenkins_page() -> str:
    return (ROOT / "docs" / "jenkins.md").read_text()


@pytest.mark.parametrize("name", ["casc.yaml", "docker-compose.yml"])
def test_configuration_is_valid_yaml_and_every_variable_is_documented(name: str) -> None:
    text = (ROOT / "jenkins" / name).read_text()
    assert isinstance(yaml.safe_load(text), dict)
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert variables
    undocumented = sorted(v for v in variables if f"`{v}`" not in jenkins_page())
    assert not undocumented, f"{name} uses variables docs/jenkins.md does not document: {undocumented}"


def test_casc_defines_the_jobs_and_the_credentials_the_pipelines_use() -> None:
    casc = yaml.safe_load((ROOT / "jenkins" / "casc.yaml").read_text())
    ids = {c[next(iter(c))]["id"] for c in casc["credentials"]["system"]["domainCredentials"][0]["credentials"]}
    used = set()
    for path in JENKINS_FILES:
        used |= set(re.findall(r"credentials\('([^']+)'\)", path.read_text()))
    assert used and used <= ids
    jobs = {Path(j["file"]).name for j in casc["jobs"]}
    assert jobs == {p.name for p in (ROOT / "jenkins" / "jobs").glob("*.groovy")}


def test_every_plugin_is_pinned_and_the_needed_ones_are_there() -> None:
    lines = [ln.strip() for ln in (ROOT / "jenkins" / "plugins.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    for line in lines:
        assert re.fullmatch(r"[a-z0-9-]+:\d[\w.]*", line), f"not pinned: {line}"
    names = {ln.split(":")[0] for ln in lines}
    assert {"git", "workflow-aggregator", "docker-workflow", "email-ext", "configuration-as-code", "job-dsl",
            "github", "timestamper", "htmlpublisher", "credentials-binding"} <= names
    dockerfile = (ROOT / "jenkins" / "Dockerfile").read_text()
    assert re.search(r"^FROM jenkins/jenkins:[\d.]+-lts", dockerfile, re.M)
    assert "jenkins-plugin-cli --plugin-file" in dockerfile and "python3" in dockerfile


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "ds", "GIT_AUTHOR_EMAIL": "ds@example.com",
                        "GIT_COMMITTER_NAME": "ds", "GIT_COMMITTER_EMAIL": "ds@example.com"})


@pytest.mark.usefixtures("ml_env")
def test_a_push_to_a_repository_with_the_hook_trains_and_records_a_run(tmp_path: Path) -> None:
    bare, work = tmp_path / "models.git", tmp_path / "work"
    _git("init", "-q", "--bare", str(bare))
    proc = subprocess.run([sys.executable, "-m", "mlops", "hook", "install", str(bare)], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "post-receive" in proc.stdout
    _git("clone", "-q", str(bare), str(work))
    for f in (EXAMPLES / "wine-sklearn").iterdir():
        shutil.copy2(f, work / f.name)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "first model", cwd=work)
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD"], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}, timeout=600)
    assert push.returncode == 0, push.stderr
    assert "PASSED  accuracy" in push.stderr  # the pusher sees the run (as "remote:" lines)
    [run] = get_run_store().find_runs()
    assert run.status == "passed" and run.project == "models"  # one name across pushes: the repository's
    (work / "train.py").write_text((work / "train.py").read_text() + "\n# second push\n")
    _git("commit", "-q", "-am", "second model", cwd=work)
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD"], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}, timeout=600)
    assert push.returncode == 0, push.stderr
    listed = json.loads(subprocess.run([sys.executable, "-m", "mlops", "runs", "--project", "models", "--json"],
                                       capture_output=True, text=True).stdout)
    assert len(listed) == 2 and {r["project"] for r in listed} == {"models"}
    versions = json.loads(subprocess.run([sys.executable, "-m", "mlops", "models", "models", "--json"],
                                         capture_output=True, text=True).stdout)["versions"]
    assert [v["version"] for v in versions] == [2, 1]


def test_the_hook_keeps_only_the_newest_checkouts(tmp_path: Path) -> None:
    from mlops.pipeline.hook import prune_checkouts

    for i in range(8):
        (tmp_path / f"c{i}").mkdir()
        os.utime(tmp_path / f"c{i}", (1000 + i, 1000 + i))
    removed = prune_checkouts(tmp_path, keep=5)
    assert sorted(p.name for p in removed) == ["c0", "c1", "c2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c3", "c4", "c5", "c6", "c7"]


class _FakeJenkins(http.server.BaseHTTPRequestHandler):
    """Stands in for Jenkins's REST API (Jenkins itself cannot be installed here): records requests."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # python-jenkins asks for a CSRF crumb first
        self.seen.append(f"GET {self.path}")
        self.send_response(404)
        self.end_headers()

    def do_POST(self) -> None:
        self.seen.append(f"POST {self.path}")
        self.send_response(201)
        self.send_header("Location", "http://127.0.0.1/queue/item/1/")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_with_jenkins_url_the_hook_starts_the_jenkins_job_instead(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeJenkins)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bare = tmp_path / "r.git"
    _git("init", "-q", "--bare", str(bare))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlops", "hook", "run", "--git-dir", str(bare), "--stdin"],
            input="0" * 40 + " " + "a" * 40 + " refs/heads/main\n", capture_output=True, text=True,
            env={**os.environ, "JENKINS_URL": f"http://127.0.0.1:{server.server_port}", "JENKINS_JOB": "mlops-train"})
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert any(s.startswith("POST /job/mlops-train/buildWithParameters") for s in _FakeJenkins.seen)
    assert "started Jenkins job mlops-train for main" in proc.stdout
    assert get_run_store().find_runs() == []


@pytest.mark.slow
def test_the_hook_installs_and_runs_in_a_repository_whose_path_has_a_space(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeJenkins)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bare = tmp_path / "my repo.git"
    _git("init", "-q", "--bare", str(bare))
    proc = subprocess.run([sys.executable, "-m", "mlops", "hook", "install", str(bare)], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.startswith(f"installed {bare / 'hooks' / 'post-receive'}"), \
        proc.stderr
    try:
        hook = subprocess.run([str(bare / "hooks" / "post-receive")], cwd=bare, capture_output=True, text=True,
                              input="0" * 40 + " " + "b" * 40 + " refs/heads/main\n", timeout=120,
                              env={**os.environ, "JENKINS_URL": f"http://127.0.0.1:{server.server_port}"})
    finally:
        server.shutdown()
    assert hook.returncode == 0 and "started Jenkins job mlops-train for main" in hook.stdout, hook.stderr
