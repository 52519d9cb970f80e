"""The MLflow client side of TestRealMLflowEndToEnd: a data scientist's session, in phases.

Run by the Go test with the tracking server venv's own python (the same MLflow as the server):

    python client.py PHASE STATE_FILE

MLFLOW_TRACKING_URI points at the real server. Each phase asserts what it needs and exits
non-zero (with a traceback) on the first failure; it reads and writes STATE_FILE (JSON) so a
later phase can check what an earlier one, or an older MLflow, wrote. Phases:

  seed         on the oldest release: an experiment, a run with params, metrics and an
               artifact, a registered pyfunc model with an alias
  verify-seed  after the upgrade: all of seed's data reads back
  main         /health, /version, the UI; an experiment; a run with params, tags and 1,000
               metric points by log_batch; search; artifacts (a file, a directory, one of
               E2E_BIG_ARTIFACT_MIB MiB) listed and downloaded with equal SHA-256; a pyfunc model
               registered in two versions, aliases set and moved, versions searched
  verify-main  after a restart: everything main wrote is still there
"""

import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.request

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

MODEL = "e2e-model"
SEED_MODEL = "e2e-seed-model"


class AddN(mlflow.pyfunc.PythonModel):
    """A tiny pyfunc model: adds n to every input value."""

    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return [x + self.n for x in model_input]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def http_get(path):
    """GET path on the server, with the client's credentials when it has them (basic auth)."""
    url = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + path
    req = urllib.request.Request(url)
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        token = base64.b64encode((user + ":" + os.environ["MLFLOW_TRACKING_PASSWORD"]).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def log_model(n, run_id):
    """Logs AddN(n) in run_id; pip_requirements are given so nothing is inferred or fetched."""
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddN(n), pip_requirements=["mlflow==" + mlflow.__version__]
        )
    return info.model_uri


def seed(state):
    client = MlflowClient()
    exp_id = mlflow.create_experiment("e2e-seed")
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="seed-run") as run:
        mlflow.log_param("alpha", "0.5")
        for step in range(10):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "notes.txt")
            with open(p, "w") as f:
                f.write("seeded by MLflow " + mlflow.__version__ + "\n")
            mlflow.log_artifact(p)
            state["seed_notes_sha256"] = sha256_file(p)
    uri = log_model(41, run.info.run_id)
    mv = mlflow.register_model(uri, SEED_MODEL)
    client.set_registered_model_alias(SEED_MODEL, "champion", mv.version)
    state.update(seed_experiment_id=exp_id, seed_run_id=run.info.run_id, seed_version=mlflow.__version__)


def verify_seed(state):
    client = MlflowClient()
    run = client.get_run(state["seed_run_id"])
    assert run.data.params == {"alpha": "0.5"}, run.data.params
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(10)), history
    with tempfile.TemporaryDirectory() as d:
        p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes.txt", dst_path=d)
        assert sha256_file(p) == state["seed_notes_sha256"]
        with open(p) as f:
            assert f.read() == "seeded by MLflow " + state["seed_version"] + "\n"
    mv = client.get_model_version_by_alias(SEED_MODEL, "champion")
    model = mlflow.pyfunc.load_model("models:/%s@champion" % SEED_MODEL)
    assert list(model.predict([1, 2])) == [42, 43], model.predict([1, 2])
    state["seed_model_version"] = mv.version


def main_phase(state):
    client = MlflowClient()
    status, body = http_get("/health")
    assert status == 200 and body.strip() == "OK", (status, body)
    status, body = http_get("/version")
    assert status == 200 and body.strip() == mlflow.__version__, (status, body, mlflow.__version__)
    status, body = http_get("/")
    assert status == 200 and "<html" in body.lower(), (status, body[:200])

    exp_id = mlflow.create_experiment("e2e-main", tags={"team": "e2e"})
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="main-run") as run:
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric("acc", step / 1000.0, now + step, step) for step in range(1000)]
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("lr", "0.01"), Param("epochs", "3")],
            tags=[RunTag("stage", "e2e")],
        )
        with tempfile.TemporaryDirectory() as d:
            small = os.path.join(d, "small.txt")
            with open(small, "w") as f:
                f.write("hello mlflow\n")
            mlflow.log_artifact(small)
            tree = os.path.join(d, "tree")
            os.makedirs(os.path.join(tree, "sub"))
            for rel, text in (("a.txt", "a\n"), ("sub/b.txt", "b\n"), ("sub/c.json", "{}\n")):
                with open(os.path.join(tree, rel), "w") as f:
                    f.write(text)
            mlflow.log_artifacts(tree, artifact_path="tree")
            big_mib = int(os.environ.get("E2E_BIG_ARTIFACT_MIB", "200"))
            big = os.path.join(d, "big.bin")
            with open(big, "wb") as f:
                for _ in range(big_mib):
                    f.write(os.urandom(1 << 20))
            state["big_sha256"] = sha256_file(big)
            state["big_bytes"] = os.path.getsize(big)
            started = time.time()
            mlflow.log_artifact(big, artifact_path="big")
            state["big_upload_seconds"] = round(time.time() - started, 2)
    state.update(main_experiment_id=exp_id, main_run_id=run_id)

    found = mlflow.search_runs(experiment_ids=[exp_id], filter_string="params.lr = '0.01' and tags.stage = 'e2e'")
    assert list(found["run_id"]) == [run_id], found
    history = client.get_metric_history(run_id, "acc")
    assert len(history) == 1000 and sorted(m.step for m in history) == list(range(1000)), len(history)

    uris = [log_model(1, run_id), log_model(2, run_id)]
    versions = [mlflow.register_model(u, MODEL).version for u in uris]
    assert [str(v) for v in versions] == ["1", "2"], versions
    client.set_registered_model_alias(MODEL, "staging", "1")
    assert client.get_model_version_by_alias(MODEL, "staging").version == "1"
    client.set_registered_model_alias(MODEL, "staging", "2")
    assert client.get_model_version_by_alias(MODEL, "staging").version == "2"
    # The promotion rule (when the server enforces it): production only on the version in staging.
    client.set_registered_model_alias(MODEL, "production", "2")
    found = client.search_model_versions("name = '%s'" % MODEL)
    assert sorted(v.version for v in found) == ["1", "2"], found
    assert list(mlflow.pyfunc.load_model("models:/%s@staging" % MODEL).predict([1])) == [3]
    verify_main(state)


def verify_main(state):
    client = MlflowClient()
    run = client.get_run(state["main_run_id"])
    assert run.data.params == {"lr": "0.01", "epochs": "3"}, run.data.params
    assert run.data.tags.get("stage") == "e2e", run.data.tags
    assert len(client.get_metric_history(run.info.run_id, "acc")) == 1000
    top = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert top == ["big", "small.txt", "tree"], top
    tree = sorted(a.path for a in client.list_artifacts(run.info.run_id, "tree/sub"))
    assert tree == ["tree/sub/b.txt", "tree/sub/c.json"], tree
    with tempfile.TemporaryDirectory() as d:
        p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="tree", dst_path=d)
        with open(os.path.join(p, "sub", "b.txt")) as f:
            assert f.read() == "b\n"
        started = time.time()
        p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="big/big.bin", dst_path=d)
        state["big_download_seconds"] = round(time.time() - started, 2)
        assert os.path.getsize(p) == state["big_bytes"], os.path.getsize(p)
        assert sha256_file(p) == state["big_sha256"], "the downloaded big artifact differs from the upload"
    assert client.get_model_version_by_alias(MODEL, "staging").version == "2"
    assert client.get_model_version_by_alias(MODEL, "production").version == "2"
    state["artifact_uri"] = run.info.artifact_uri


PHASES = {"seed": seed, "verify-seed": verify_seed, "main": main_phase, "verify-main": verify_main}

if __name__ == "__main__":
    phase, state_file = sys.argv[1], sys.argv[2]
    state = {}
    if os.path.exists(state_file):
        with open(state_file) as f:
            state = json.load(f)
    PHASES[phase](state)
    with open(state_file, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    print("client %s (MLflow %s): ok" % (phase, mlflow.__version__))
