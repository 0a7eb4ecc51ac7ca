"""The model server itself (``python -m serving``), run for real on 127.0.0.1 in the serving virtualenv."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.units import serving_path
from tests.conftest import ROOT, call

TRAIN = """
import json, sys
from pathlib import Path
import joblib, numpy as np, pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
df = pd.read_csv(sys.argv[2])
X, y = df.drop(columns=["Class"]), df["Class"]
named = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
plain = LogisticRegression(max_iter=200).fit(X.values[:, :4], y)
for name, model in (("wine", named), ("plain", plain)):
    (out / name).mkdir()
    joblib.dump(model, out / name / "model.joblib")
    (out / name / "model.json").write_text(json.dumps({"project": name, "version": 7, "format": "joblib"}))
rows = X.iloc[::20]
(out / "expected.json").write_text(json.dumps({"features": list(X.columns), "rows": rows.values.tolist(),
                                               "predictions": named.predict(rows).tolist(),
                                               "probabilities": named.predict_proba(rows).round(6).tolist()}))
"""


@pytest.fixture(scope="module")
def models(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wine/`` (a forest fitted on a DataFrame: it knows its features), ``plain/`` (fitted on an array of
    4 columns), and ``expected.json`` (rows and what the forest itself predicts for them)."""
    out = tmp_path_factory.mktemp("models")
    subprocess.run([python, "-c", TRAIN, str(out), str(ROOT / "examples" / "wine-sklearn" / "wines.csv.gz")],
                   check=True, timeout=300)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(python: str, model_dir: Path, workers: int = 1, healthy: bool = True, **extra: str
           ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m serving`` as the local serving units start it (``extra``: more environment variables); yields
    its URL once healthy (if asked)."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), "MLOPS_MODEL_DIR": str(model_dir),
           "MLOPS_SERVE_WORKERS": str(workers), "PYTHONUNBUFFERED": "1", **extra}
    proc = subprocess.Popen([python, "-m", "serving", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if healthy:
            wait_for(lambda: answers(f"{url}/health") == 200, 120, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def answers(url: str) -> int | None:
    try:
        return call(url)[0]
    except OSError:
        return None


def wait_for(condition, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the server ended with code {proc.returncode}:\n{proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail("timed out waiting for the server")


def test_predictions_are_the_models_own_for_lists_and_feature_objects(python, models) -> None:
    expected = json.loads((models / "expected.json").read_text())
    rows, features = expected["rows"], expected["features"]
    with server(python, models / "wine") as (url, _):
        code, body = call(f"{url}/health")
        assert code == 200
        assert json.loads(body) == {"status": "ok", "project": "wine", "model_version": 7, "input_shape": [13],
                                    "features": features}
        code, body = call(f"{url}/predict", {"rows": rows})
        answer = json.loads(body)
        assert code == 200 and answer["predictions"] == expected["predictions"] and answer["model_version"] == 7
        assert answer["probabilities"] == expected["probabilities"]  # a forest: its predict is the most probable
        assert len(set(answer["inference_ids"])) == len(rows)
        # version-7 UUIDs: the time first, so the ids of a later answer sort after these (and the capture
        # stores add them at the end of their indexes)
        assert {uuid.UUID(i).version for i in answer["inference_ids"]} == {7}
        time.sleep(0.002)
        later = json.loads(call(f"{url}/predict", {"rows": rows[:1]})[1])["inference_ids"][0]
        assert later > max(answer["inference_ids"])
        assert abs(int(later[:12], 16) / 1000 - time.time()) < 60
        objects = [dict(zip(features, row, strict=True)) for row in rows[:3]]
        code, body = call(f"{url}/predict", {"rows": [objects[0], rows[1], objects[2]]})
        assert code == 200 and json.loads(body)["predictions"] == expected["predictions"][:3]
        # curl -d sends JSON as form-encoded: still read as JSON
        req = subprocess.run(["curl", "-s", "-d", json.dumps({"rows": rows[:2]}), f"{url}/predict"],
                             capture_output=True, text=True, timeout=30)
        assert json.loads(req.stdout)["predictions"] == expected["predictions"][:2]


BAD = [
    ({"rows": [[1, 2, 3]]}, "row 0: expected 13 numbers (input shape [13]), got 3"),
    ({"rows": [[1.0] * 13, ["a"] * 13]}, "row 1: every value must be a number"),
    ({"rows": [[1.0] * 12 + [1e999]]}, "row 0: values must be finite numbers"),
    ({"rows": [{"Alcohol": 1}]}, "row 0: missing features ['Malic_acid', 'Ash'"),
    ({"rows": [5]}, "row 0: send a list of numbers, or an object of feature values"),
    ({"rows": []}, 'send {"rows": [[...], ...]}: a non-empty list of rows'),
    ({"data": [[1.0] * 13]}, 'send {"rows": [[...], ...]}'),
    ([[1.0] * 13], 'send {"rows": [[...], ...]}'),
    ({"rows": [[1.0] * 12 + [True]]}, "row 0: value 12 is true, not a number; send 1 or 0"),
    ({"rows": [[1.0] * 13, [[1.0] * 6, [False] + [1.0] * 6]]}, "row 1: value 6 is false, not a number"),
    ({"rows": [dict.fromkeys(["Alcohol", "Malic_acid"], 1.0) | {"Ash": True}]}, "row 0: feature 'Ash' is true"),
]


def test_rows_that_do_not_fit_get_a_422_with_a_one_line_reason(python, models) -> None:
    with server(python, models / "wine") as (url, _):
        for body, reason in BAD:
            code, text = call(f"{url}/predict", raw=json.dumps(body).replace("Infinity", "1e999").encode())
            detail = json.loads(text)["detail"]
            assert code == 422 and reason in detail and "\n" not in detail, (body, text)


def test_bad_bodies_never_get_a_500(python, models) -> None:
    with server(python, models / "plain") as (url, _):
        assert call(f"{url}/health")[1].count('"input_shape":[4]') == 1
        code, text = call(f"{url}/predict", raw=b"not json")
        assert code == 422 and json.loads(text)["detail"] == "the body is not JSON"
        code, text = call(f"{url}/predict", {"rows": [{"a": 1, "b": 2, "c": 3, "d": 4}]})
        assert code == 422 and "this model has no feature names; send a list of 4 numbers" in text
        code, text = call(f"{url}/predict", {"rows": [[1, 2, 3, 4], [[1, 2], [3, 4]]]})  # nested rows are flattened
        assert code == 200 and len(json.loads(text)["predictions"]) == 2


def test_an_answer_says_how_long_the_model_took_and_the_api_describes_predict(python, models) -> None:
    import re
    import urllib.error
    import urllib.request

    row = json.loads((models / "expected.json").read_text())["rows"][0]
    with server(python, models / "wine") as (url, _):
        req = urllib.request.Request(f"{url}/predict", data=json.dumps({"rows": [row]}).encode())
        with urllib.request.urlopen(req, timeout=30) as r:
            timing = r.headers["Server-Timing"]
        match = re.fullmatch(r"predict;dur=(\d+\.\d{3}), server;dur=(\d+\.\d{3})", timing or "")
        assert match, timing
        model_ms, server_ms = map(float, match.groups())
        assert 0 < model_ms <= server_ms < 30_000
        with pytest.raises(urllib.error.HTTPError) as refused:  # a GET is refused, and says what to use
            urllib.request.urlopen(f"{url}/predict", timeout=30)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "POST"
        schema = json.loads(call(f"{url}/openapi.json")[1])
        predict = schema["paths"]["/predict"]["post"]
        body = predict["requestBody"]["content"]["application/json"]["schema"]
        assert "rows" in body["properties"] and {"200", "422", "503"} <= set(predict["responses"])
        assert {"/feedback", "/health", "/metrics"} <= set(schema["paths"])
        assert call(f"{url}/docs")[0] == 200


def test_health_is_503_while_the_model_loads_then_200(python, models, tmp_path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "model.joblib").write_bytes((models / "wine" / "model.joblib").read_bytes())
    os.mkfifo(folder / "model.json")  # the server blocks reading it until the test writes it: "still loading"
    with server(python, folder, healthy=False) as (url, proc):
        wait_for(lambda: answers(f"{url}/health") == 503, 120, proc)
        assert json.loads(call(f"{url}/health")[1]) == {"status": "loading"}
        code, text = call(f"{url}/predict", {"rows": [[1.0] * 13]})
        assert code == 503 and json.loads(text)["detail"] == "the model is still loading"
        (folder / "model.json").write_text(json.dumps({"project": "slow", "version": 3, "format": "joblib"}))
        wait_for(lambda: answers(f"{url}/health") == 200, 60, proc)
        assert json.loads(call(f"{url}/health")[1])["model_version"] == 3


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_cannot_load_ends_the_server_with_exit_code_3(python, tmp_path, workers) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"project": "bad", "version": 2, "format": "joblib"}))
    (tmp_path / "model.joblib").write_bytes(b"this is not a model")
    with server(python, tmp_path, workers=workers, healthy=False) as (url, proc):
        assert proc.wait(120) == 3
        assert "cannot load the model" in proc.stdout.read()
        assert answers(f"{url}/health") is None  # no worker is left behind on the port


def test_metrics_count_the_requests_of_every_worker(python, models) -> None:
    row = json.loads((models / "expected.json").read_text())["rows"][0]
    with server(python, models / "wine", workers=2) as (url, proc):
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True)
        assert len(workers.stdout.split()) == 2
        with ThreadPoolExecutor(8) as pool:  # 8 clients at once: both workers answer
            codes = list(pool.map(lambda _: call(f"{url}/predict", {"rows": [row]})[0], range(40)))
        assert codes == [200] * 40
        assert call(f"{url}/predict", {"rows": [[1]]})[0] == 422
        for _ in range(6):  # whichever worker answers the scrape, it reports the whole server
            metrics = call(f"{url}/metrics")[1]
            assert 'mlops_requests_total{code="200",endpoint="/predict"} 40.0' in metrics
            assert 'mlops_requests_total{code="422",endpoint="/predict"} 1.0' in metrics
            assert "mlops_prediction_errors_total 1.0" in metrics
            assert "mlops_predicted_rows_total 40.0" in metrics
            assert "mlops_predict_latency_seconds_count 41.0" in metrics
            assert 'mlops_model_version{project="wine"} 7.0' in metrics


def test_each_worker_sizes_its_thread_pools_to_its_share_of_the_cpus(python, models) -> None:
    from monitor.serving.settings import usable_cpus

    share = str(max(1, usable_cpus() // 2))
    with server(python, models / "wine", workers=2, OPENBLAS_NUM_THREADS="3") as (_, proc):
        workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True)
        pids = workers.stdout.split()
        assert len(pids) == 2
        for pid in pids:
            env = dict(x.split("=", 1) for x in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in x)
            assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == share
            assert env["TF_NUM_INTEROP_THREADS"] == "1"
            assert env["OPENBLAS_NUM_THREADS"] == "3"  # the user's own value is kept


def test_a_bad_worker_count_is_refused_in_one_line(python, models) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), "MLOPS_SERVE_WORKERS": "two"}
    proc = subprocess.run([python, "-m", "serving"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "mlops serve: MLOPS_SERVE_WORKERS must be a whole number of at least 1, but got 'two'"


def test_a_killed_supervisor_takes_its_workers_with_it(python, models) -> None:
    with server(python, models / "wine", workers=2) as (url, proc):
        found = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True)
        workers = [int(p) for p in found.stdout.split()]
        assert len(workers) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 20
        while time.time() < deadline and any(alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(alive(p) for p in workers), "workers outlived their supervisor and keep its port"
        assert answers(f"{url}/health") is None


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_keep_alive_connections_are_spread_evenly_over_the_workers(python, models) -> None:
    with server(python, models / "wine", workers=2) as (url, proc):
        found = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True)
        workers = [int(p) for p in found.stdout.split()]
        port = int(url.rsplit(":", 1)[1])
        clients = [open_client(port) for _ in range(8)]
        owner = owners(workers, clients)
        assert sorted(Counter(owner.values()).values()) == [4, 4]  # a hash would split 8 unevenly 7 times in 10
        busy = owner[clients[0].sock.getsockname()[1]]
        for client in clients:
            if owner[client.sock.getsockname()[1]] == busy:
                client.close()
        time.sleep(0.5)  # the closes reach the supervisor
        newcomers = [open_client(port) for _ in range(4)]
        assert set(owners(workers, newcomers).values()) == {busy}  # the worker whose clients left gets the new ones
        for client in clients + newcomers:
            client.close()


def open_client(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection that has had its first answer (so a worker has it)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    client.request("GET", "/health")
    assert client.getresponse().read()
    return client


def owners(workers: list[int], clients: list[http.client.HTTPConnection]) -> dict[int, int]:
    """The worker pid that holds each client's connection, by the client's port (from /proc)."""
    inodes = {}  # socket inode -> worker pid
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    ports = {client.sock.getsockname()[1] for client in clients}
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port, inode = int(fields[2].split(":")[1], 16), fields[9]
        if remote_port in ports and inode in inodes:
            found[remote_port] = inodes[inode]
    assert set(found) == ports, "every connection is held by a worker"
    return found


def test_an_answer_arrives_in_one_piece(python, models) -> None:
    """Status line, headers and body in one write: the client wakes once per answer, not twice."""
    row = json.loads((models / "expected.json").read_text())["rows"][0]
    body = json.dumps({"rows": [row]}).encode()
    request = b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body), body)
    with server(python, models / "wine") as (url, _):
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as conn:
            for _ in range(20):
                conn.sendall(request)
                first = conn.recv(65536)  # returns as soon as anything has arrived
                head, _, rest = first.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                assert head.startswith(b"HTTP/1.1 200") and len(rest) == length, first


FROZEN = """
import gc, os, sys
os.environ.update(MLOPS_MODEL_DIR=sys.argv[1], MLOPS_CAPTURE="off")
from serving.http.app import _load, create_app
app = create_app()
_load(app, app.state.settings)
model = app.state.slot.model
walked = {id(o) for o in gc.get_objects()}
print(gc.get_freeze_count() > 0, id(model) in walked, id(model.model) in walked)
"""


def test_the_loaded_model_is_out_of_the_collectors_full_collections(python, models) -> None:
    # a full collection walks every tracked object: with TensorFlow loaded it took 0.2-0.3 s inside a request
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path()}
    run = subprocess.run([python, "-c", FROZEN, str(models / "wine")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[-1].split() == ["True", "False", "False"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_ends_the_server_with_one_line(python, models, workers) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), "MLOPS_MODEL_DIR": str(models / "wine"),
               "MLOPS_SERVE_WORKERS": str(workers), "MLOPS_CAPTURE": "off"}
        proc = subprocess.run([python, "-m", "serving", "--port", str(port)], env=env, capture_output=True, text=True,
                              timeout=120)
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def post_streamed(url: str, body: bytes, chunked: bool) -> tuple[int, dict]:
    """``POST /predict`` of ``body``, announced by ``Content-Length`` or sent in chunks without it."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        if chunked:
            pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))
            connection.request("POST", "/predict", body=pieces, encode_chunked=True,
                               headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        else:
            connection.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_a_body_over_the_limit_gets_a_413_before_it_is_parsed_announced_or_streamed(python, models) -> None:
    row = json.loads((models / "expected.json").read_text())["rows"][0]
    not_json = b"x" * 2_500_000  # parsed, it would be a 422 "not JSON"
    with server(python, models / "wine", MLOPS_PREDICT_MAX_MB="2") as (url, _):
        for chunked in (False, True):
            code, answer = post_streamed(url, not_json, chunked)
            assert code == 413, (chunked, answer)
            assert answer["detail"] == ("the body is larger than 2 MB, the server's limit (MLOPS_PREDICT_MAX_MB); "
                                        "send fewer rows per request")
            code, answer = post_streamed(url, json.dumps({"rows": [row] * 4000}).encode(), chunked)  # 1.5 MB
            assert code == 200 and len(answer["predictions"]) == 4000
    with server(python, models / "wine") as (url, _):  # 10 MB unless told otherwise
        code, answer = post_streamed(url, b" " * 10_000_001, chunked=False)
        assert code == 413 and "larger than 10 MB" in answer["detail"]


def test_more_rows_than_the_limit_get_a_413_naming_the_limit(python, models) -> None:
    row = json.loads((models / "expected.json").read_text())["rows"][0]
    with server(python, models / "wine", MLOPS_PREDICT_MAX_ROWS="50") as (url, _):
        code, text = call(f"{url}/predict", {"rows": [row] * 51})
        assert code == 413 and json.loads(text)["detail"] == (
            "51 rows in one request, more than the server's limit of 50 (MLOPS_PREDICT_MAX_ROWS); send them in "
            "several requests")
        code, text = call(f"{url}/predict", {"rows": [row] * 50})
        assert code == 200 and len(json.loads(text)["predictions"]) == 50


@pytest.mark.parametrize(("name", "value"), [("MLOPS_PREDICT_MAX_MB", "0"), ("MLOPS_PREDICT_MAX_ROWS", "many"),
                                             ("MLOPS_CAPTURE_MAX_ROWS", "-1")])
def test_a_bad_request_limit_is_refused_in_one_line(python, name: str, value: str) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), name: value}
    proc = subprocess.run([python, "-m", "serving"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"mlops serve: {name} must be a whole number of at least 1, but got {value!r}"
