"""Capture and ground truth on a real server (``python -m serving`` in the serving virtualenv): inference ids,
``POST /feedback`` with its token, the ``/review`` page in headless Chromium, the live gauges, a store that cannot
be written for a while, and a flood of labels."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.serving.capture import SpoolCapture
from monitor.units import serving_path
from tests.conftest import ROOT

TOKEN = "s3cret-token"
TRAIN = """
import json, sys
from pathlib import Path
import joblib, pandas as pd
from sklearn.ensemble import RandomForestClassifier
out = Path(sys.argv[1]); out.mkdir()
df = pd.read_csv(sys.argv[2])
X, y = df.drop(columns=["Class"]), df["Class"]
joblib.dump(RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y), out / "model.joblib")
(out / "model.json").write_text(json.dumps({"project": "wine", "version": 4, "format": "joblib"}))
(out.parent / "rows.json").write_text(json.dumps(X.iloc[::9].values.tolist()))
"""


@pytest.fixture(scope="module")
def model(python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feedback") / "wine"
    subprocess.run([python, "-c", TRAIN, str(out), str(ROOT / "examples" / "wine-sklearn" / "wines.csv.gz")],
                   check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def rows(model: Path) -> list[list[float]]:
    return json.loads((model.parent / "rows.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: object | None = None, token: str | None = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict | str]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            code, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


@contextmanager
def server(python: str, model_dir: Path, spool: Path | None, token: str | None = TOKEN, workers: int = 1,
           **env: str) -> Iterator[str]:
    port = free_port()
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": serving_path(), "MLOPS_MODEL_DIR": str(model_dir),
            "MLOPS_SERVE_WORKERS": str(workers), "PYTHONUNBUFFERED": "1",
            **({"MLOPS_CAPTURE_DIR": str(spool)} if spool else {}),
            **({"MLOPS_FEEDBACK_TOKEN": token} if token else {}), **env}
    proc = subprocess.Popen([python, "-m", "serving", "--port", str(port)], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if http(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the server did not start:\n{proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def predict(url: str, rows: list, **extra: object) -> dict:
    code, body = http(f"{url}/predict", {"rows": rows, **extra})
    assert code == 200, body
    return body  # type: ignore[return-value]


def wrong_class(prediction: int) -> int:
    return 1 if prediction != 1 else 2


def wait_captured(spool: Path, ids: list[str], project: str = "wine", within_s: float = 30) -> None:
    """Until the server's batched writer has put these predictions into the spool (it flushes every 0.25 s; a
    loaded machine takes longer)."""
    deadline = time.time() + within_s
    while time.time() < deadline:
        if (spool / "capture.sqlite").exists() and len(SpoolCapture(spool).predictions(project, ids)) == len(ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"the predictions {ids[:3]}... were not captured within {within_s:.0f} s")


def test_every_prediction_is_captured_with_its_id_row_output_and_probabilities(python, model, rows, tmp_path):
    spool = tmp_path / "capture"
    with server(python, model, spool) as url:
        answer = predict(url, rows[:3])
        mine = predict(url, rows[3:5], inference_ids=["order-17", "order-18"])
        assert mine["inference_ids"] == ["order-17", "order-18"]
        code, body = http(f"{url}/predict", {"rows": rows[:2], "inference_ids": ["a", "a"]})
        assert code == 422 and body["detail"] == "inference_ids: send one different id per row (got the same id twice)"
        code, body = http(f"{url}/predict", {"rows": rows[:1], "inference_ids": ["bad id!"]})
        assert code == 422 and body["detail"].startswith("inference_ids[0]: send one id per row")
        wait_captured(spool, [*answer["inference_ids"], "order-17", "order-18"])
    store = SpoolCapture(spool)
    captured = store.predictions("wine", [*answer["inference_ids"], "order-17", "order-18"])
    assert len(captured) == 5
    first = captured[answer["inference_ids"][0]]
    assert first["row"] == rows[0] and first["prediction"] == answer["predictions"][0]
    assert first["probabilities"] == answer["probabilities"][0] and first["model_version"] == 4
    assert captured["order-18"]["row"] == rows[4]
    assert store.model("wine", 4)["classes"] == [1, 2, 3] and len(store.model("wine", 4)["features"]) == 13


def test_feedback_needs_the_token_and_is_refused_when_none_is_configured(python, model, rows, tmp_path):
    with server(python, model, tmp_path / "off", token=None) as url:
        ident = predict(url, rows[:1])["inference_ids"][0]
        code, body = http(f"{url}/feedback", {"inference_id": ident, "label": 1}, token="anything")
        assert code == 403 and "set MLOPS_FEEDBACK_TOKEN" in body["detail"] and "\n" not in body["detail"]
        code, page = http(f"{url}/review")
        assert code == 403 and "set MLOPS_FEEDBACK_TOKEN" in page
    with server(python, model, tmp_path / "on") as url:
        ident = predict(url, rows[:1])["inference_ids"][0]
        code, body = http(f"{url}/feedback", {"inference_id": ident, "label": 1})
        assert code == 401 and body["detail"] == "send the feedback token as 'Authorization: Bearer <token>'"
        code, body = http(f"{url}/feedback", {"inference_id": ident, "label": 1}, token="wrong")
        assert code == 403 and body["detail"] == "the feedback token is not valid"
        assert SpoolCapture(tmp_path / "on").label_history("wine") == []


def test_unknown_ids_and_labels_of_the_wrong_type_are_refused_and_nothing_is_recorded(python, model, rows, tmp_path):
    with server(python, model, tmp_path / "spool") as url:
        ids = predict(url, rows[:2])["inference_ids"]
        code, body = http(f"{url}/feedback", {"inference_id": "no-such-id", "label": 1}, token=TOKEN)
        assert code == 404 and body["detail"].startswith("no prediction with inference_id 'no-such-id'")
        batch = {"labels": [{"inference_id": ids[0], "label": 1}, {"inference_id": "ghost", "label": 2}]}
        code, body = http(f"{url}/feedback", batch, token=TOKEN)
        assert code == 404 and "1 of 2 inference_ids have no prediction: 'ghost'" in body["detail"]
        for label, reason in ((7, "label must be one of the model's classes [1, 2, 3] (got 7)"),
                              ("two", "(got 'two')"), (True, "(got True)"), ([1], "(got [1])"), (None, "(got None)")):
            code, body = http(f"{url}/feedback", {"inference_id": ids[0], "label": label}, token=TOKEN)
            assert code == 422 and reason in body["detail"], (label, body)
        code, body = http(f"{url}/feedback", raw=b"{not json", token=TOKEN)
        assert code == 422 and body["detail"] == "the body is not JSON"
        code, body = http(f"{url}/feedback", {"labels": [{"inference_id": ids[0], "label": 1}] * 1001}, token=TOKEN)
        assert code == 413 and "at most 1000 labels per request" in body["detail"]
        assert SpoolCapture(tmp_path / "spool").label_history("wine") == []
        code, body = http(f"{url}/feedback", {"inference_id": ids[0], "label": "2"}, token=TOKEN)  # text from a CSV
        assert code == 200 and body == {"recorded": 1, "replaced": 0}
    assert SpoolCapture(tmp_path / "spool").predictions("wine", ids[:1])[ids[0]]["label"] == 2


def test_a_second_label_replaces_the_first_and_both_are_recorded(python, model, rows, tmp_path):
    with server(python, model, tmp_path / "spool", workers=2) as url:
        ident = predict(url, rows[:1])["inference_ids"][0]  # labelled at once: maybe by the other worker
        assert http(f"{url}/feedback", {"inference_id": ident, "label": 3}, token=TOKEN) == \
            (200, {"recorded": 1, "replaced": 0})
        assert http(f"{url}/feedback", {"labels": [{"inference_id": ident, "label": 1}]}, token=TOKEN) == \
            (200, {"recorded": 1, "replaced": 1})
    store = SpoolCapture(tmp_path / "spool")
    assert store.predictions("wine", [ident])[ident]["label"] == 1
    assert [(h["label"], h["previous"]) for h in store.label_history("wine", ident)] == [(3, None), (1, 3)]


def test_metrics_export_live_accuracy_and_the_labels_it_rests_on(python, model, rows, tmp_path):
    with server(python, model, tmp_path / "spool") as url:
        answer = predict(url, rows[:10])
        assert "mlops_live_accuracy" not in http(f"{url}/metrics")[1]  # no label yet: not known, not 0
        labels = [{"inference_id": i, "label": p if k < 6 else wrong_class(p)}
                  for k, (i, p) in enumerate(zip(answer["inference_ids"], answer["predictions"], strict=True))]
        assert http(f"{url}/feedback", {"labels": labels}, token=TOKEN)[0] == 200
        time.sleep(5.1)  # scrapes are cached for 5 s
        metrics = http(f"{url}/metrics")[1]
        assert 'mlops_live_accuracy{model_version="4",project="wine"} 0.6' in metrics
        assert 'mlops_labelled_predictions{model_version="4",project="wine"} 10.0' in metrics
        assert "mlops_captured_rows_total 10.0" in metrics


def test_predictions_answer_while_the_store_is_locked_and_capture_resumes(python, model, rows, tmp_path):
    spool = tmp_path / "spool"
    with server(python, model, spool) as url:
        wait_captured(spool, predict(url, rows[:1])["inference_ids"])
        blocker = sqlite3.connect(spool / "capture.sqlite", isolation_level=None, timeout=10)
        blocker.execute("BEGIN EXCLUSIVE")  # a backup, or another program, holds the store
        try:
            ids, slowest = [], 0.0
            for row in rows[:15]:
                start = time.perf_counter()
                ids += predict(url, [row])["inference_ids"]
                slowest = max(slowest, time.perf_counter() - start)
            assert slowest < 0.5, f"a prediction took {slowest:.2f}s while the store was locked"
            code, body = http(f"{url}/feedback", {"inference_id": ids[0], "label": 1}, token=TOKEN)
            assert code == 503 and body["detail"].startswith("cannot record labels now:")
        finally:
            blocker.rollback()
            blocker.close()
        deadline = time.time() + 30
        while time.time() < deadline and len(SpoolCapture(spool).predictions("wine", ids)) < len(ids):
            time.sleep(0.2)
        assert len(SpoolCapture(spool).predictions("wine", ids)) == 15
        assert http(f"{url}/feedback", {"inference_id": ids[0], "label": 1}, token=TOKEN)[0] == 200


def test_a_flood_of_labels_is_all_recorded_and_predictions_keep_answering(python, model, rows, tmp_path):
    spool = tmp_path / "spool"
    with server(python, model, spool, workers=2) as url:
        ids = []
        for start in range(0, 2000, 200):
            ids += predict(url, [rows[i % len(rows)] for i in range(start, start + 200)])["inference_ids"]
        wait_captured(spool, ids)
        batches = [[{"inference_id": i, "label": 1 + n % 3} for i in ids[k:k + 100]]
                   for n, k in enumerate(range(0, len(ids), 100))] * 2  # every id labelled twice

        def send(batch: list) -> int:
            return http(f"{url}/feedback", {"labels": batch}, token=TOKEN)[0]

        with ThreadPoolExecutor(8) as pool:
            flood = pool.map(send, batches)
            during = []
            for row in rows[:20]:
                start = time.perf_counter()
                predict(url, [row])
                during.append(time.perf_counter() - start)
            codes = list(flood)
        assert codes == [200] * len(batches)
        assert max(during) < 2.0, f"predictions took up to {max(during):.2f}s during the flood"
    store = SpoolCapture(spool)
    assert len(store.label_history("wine")) == 4000
    assert len(store.labelled("wine")) == 2000


# -- the review page in a real browser -----------------------------------------------------------

HOSTILE = "<script>alert(1)</script>"


def test_a_person_corrects_a_prediction_on_the_review_page(python, model, rows, tmp_path, chromium):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def after_submit(find):  # a form posts and the page changes under us: wait for what the next page shows
        wait = WebDriverWait(chromium, 30, ignored_exceptions=(NoSuchElementException,
                                                               StaleElementReferenceException))
        return wait.until(lambda _: find())

    spool = tmp_path / "spool"
    with server(python, model, spool) as url:
        answer = predict(url, rows[:3], inference_ids=["ticket-1", "ticket-2", "ticket-3"])
        wait_captured(spool, ["ticket-1", "ticket-2", "ticket-3"])
        chromium.get(f"{url}/review")
        assert "Feedback token" in chromium.page_source and "ticket-1" not in chromium.page_source
        chromium.find_element(By.NAME, "token").send_keys("wrong")
        chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        after_submit(lambda: "The feedback token is not valid." in chromium.find_element(By.TAG_NAME, "body").text)
        chromium.find_element(By.NAME, "token").send_keys(TOKEN)
        chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        row = after_submit(lambda: chromium.find_element(By.CSS_SELECTOR, "tr[data-id='ticket-2']"))
        predicted = answer["predictions"][1]
        assert row.find_elements(By.TAG_NAME, "td")[3].text == str(predicted)
        assert row.find_elements(By.TAG_NAME, "td")[4].text.endswith("%")
        correct = wrong_class(predicted)
        Select(row.find_element(By.NAME, "label")).select_by_value(str(correct))
        row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        after_submit(lambda: "Label saved for ticket-2." in chromium.find_element(By.CLASS_NAME, "note").text)
        row = chromium.find_element(By.CSS_SELECTOR, "tr[data-id='ticket-2']")
        assert row.find_elements(By.TAG_NAME, "td")[5].text == str(correct)
        assert chromium.execute_script("return document.scripts.length") == 0
        assert chromium.execute_script("return document.cookie") == ""  # HttpOnly: no script can read it
    store = SpoolCapture(spool)
    assert store.predictions("wine", ["ticket-2"])["ticket-2"]["label"] == correct
    assert [(h["label"], h["source"]) for h in store.label_history("wine", "ticket-2")] == [(correct, "review")]


def test_the_review_page_escapes_everything_it_shows(python, tmp_path, model):
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    shutil.copy(model / "model.joblib", hostile / "model.joblib")
    (hostile / "model.json").write_text(json.dumps({"project": f"wine{HOSTILE}", "version": 1, "format": "joblib"}))
    spool = tmp_path / "spool"
    store = SpoolCapture(spool)
    store.add_predictions([{"_id": "evil", "project": f"wine{HOSTILE}", "model_version": 1, "time": time.time(),
                            "row": [1.0] * 13, "prediction": f"{HOSTILE}", "probabilities": None}])
    with server(python, hostile, spool) as url:
        req = urllib.request.Request(f"{url}/review/login", data=f"token={TOKEN}".encode(), method="POST")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(req, timeout=10)
        except urllib.error.HTTPError as e:
            cookie = e.headers["set-cookie"].split(";")[0]
            assert "HttpOnly" in e.headers["set-cookie"] and "SameSite=strict" in e.headers["set-cookie"]
            assert TOKEN not in cookie
        with urllib.request.urlopen(urllib.request.Request(f"{url}/review", headers={"Cookie": cookie})) as r:
            page = r.read().decode()
            csp = r.headers["Content-Security-Policy"]
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in csp and "script-src" not in csp


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def test_mlops_feedback_sends_a_csv_in_batches_and_names_the_line_it_refuses(python, model, rows, tmp_path):
    from tests.conftest import mlops

    spool = tmp_path / "spool"
    with server(python, model, spool) as url:
        answer = predict(url, [rows[i % len(rows)] for i in range(600)])
        ids = answer["inference_ids"]
        good = tmp_path / "labels.csv"
        good.write_text("inference_id,label\n" + "".join(f"{i},{1 + k % 3}\n" for k, i in enumerate(ids)))
        env = {"MLOPS_FEEDBACK_TOKEN": TOKEN}
        proc = mlops("feedback", "wine", str(good), "--url", url, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"{good}: 600 label(s) recorded (0 replaced an earlier one)"
        bad = tmp_path / "bad.csv"
        bad.write_text(f"inference_id,label\n{ids[0]},2\n{ids[1]},seven\n")
        proc = mlops("feedback", "wine", str(bad), "--url", url, env=env)
        assert proc.returncode == 1
        assert proc.stderr.strip() == (f"error: {bad}: lines 2-3 refused (422): line 3: label must be one of the "
                                       "model's classes [1, 2, 3] (got 'seven')")
        proc = mlops("feedback", "wine", str(good), "--url", url, env={"MLOPS_FEEDBACK_TOKEN": ""})
        assert proc.returncode == 2 and "MLOPS_FEEDBACK_TOKEN is not set" in proc.stderr
        wrong = tmp_path / "wrong.csv"
        wrong.write_text("id,value\na,1\n")
        proc = mlops("feedback", "wine", str(wrong), "--url", url, env=env)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"error: {wrong}: needs the columns inference_id and label (it has: id, value)"
    store = SpoolCapture(spool)
    assert len(store.labelled("wine")) == 600
    assert {h["source"] for h in store.label_history("wine")} == {"cli"}


def test_only_the_first_rows_of_a_large_request_are_captured_and_can_take_labels(python, model, rows, tmp_path):
    spool = tmp_path / "capture"
    with server(python, model, spool, MLOPS_CAPTURE_MAX_ROWS="5") as url:
        large = predict(url, rows[:8])["inference_ids"]
        small = predict(url, rows[8:11])["inference_ids"]
        assert len(large) == 8  # every row is answered
        wait_captured(spool, [*large[:5], *small])
        assert sorted(SpoolCapture(spool).predictions("wine", large)) == sorted(large[:5])
        code, body = http(f"{url}/feedback", {"inference_id": large[6], "label": 1}, token=TOKEN)
        assert code == 404 and "beyond the first 5 rows of its request, the ones captured" in body["detail"]
        code, body = http(f"{url}/feedback", {"inference_id": large[4], "label": 1}, token=TOKEN)
        assert code == 200 and body == {"recorded": 1, "replaced": 0}
