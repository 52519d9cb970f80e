"""The MLflow client side of TestRealMLflowGarbageCollection.

Run by the Go test with the tracking server venv's python: python gc_client.py STATE_FILE.
MLFLOW_TRACKING_URI points at the real server (proxied artifacts). In a new experiment it logs
four runs, each with params, metrics and tags:

  purged        artifacts (a file and a 1 MiB file in a directory), then deleted
  empty_purged  no artifacts at all (mlflow/mlflow#15461: gc on such a run), then deleted
  young         artifacts, deleted too, but the test leaves its deletion recent
  live          artifacts, never deleted

and writes the experiment id, the run ids and each run's artifact URI to STATE_FILE (JSON).
"""

import json
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient


def log_run(client, experiment_id, name, with_artifacts):
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    client.log_param(run_id, "p", name)
    client.log_metric(run_id, "m", 1.0)
    client.set_tag(run_id, "t", name)
    if with_artifacts:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "a.txt"), "w") as f:
                f.write(name)
            os.mkdir(os.path.join(d, "dir"))
            with open(os.path.join(d, "dir", "b.bin"), "wb") as f:
                f.write(os.urandom(1 << 20))
            client.log_artifacts(run_id, d)
        assert sorted(a.path for a in client.list_artifacts(run_id)) == ["a.txt", "dir"], name
    client.set_terminated(run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
    return run_id, run.info.artifact_uri


def main(state_file):
    client = MlflowClient()
    experiment_id = client.create_experiment("gc-e2e")
    state = {"experiment_id": experiment_id, "runs": {}, "artifact_uris": {}}
    for name, with_artifacts in [("purged", True), ("empty_purged", False), ("young", True), ("live", True)]:
        run_id, uri = log_run(client, experiment_id, name, with_artifacts)
        state["runs"][name] = run_id
        state["artifact_uris"][name] = uri
    for name in ["purged", "empty_purged", "young"]:
        client.delete_run(state["runs"][name])
    with open(state_file, "w") as f:
        json.dump(state, f)
    print(json.dumps(state))


if __name__ == "__main__":
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    main(sys.argv[1])
