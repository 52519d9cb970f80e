#!/usr/bin/env python3
"""Issue 9's client scenarios against a running server, for the end-to-end extra-client hook.

Environment (as the hook passes it):
  MLFLOW_TRACKING_URI                                    the server
  MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD    the admin
  MLFLOW_E2E_USERS       JSON object, every configured user's name -> password
  MLFLOW_E2E_PROMOTERS   JSON list of promoter names (a subset of the users)
  MLFLOW_E2E_DEFAULT_PERMISSION   optional, default READ
Needs one user who is not a promoter and one promoter. Uses only `requests` (MLflow's own
dependency) and REST, so any client venv runs it. Prints one line per check; exits 1 on the
first failure. Names carry a random suffix, so it can run again on the same server.
"""

import json
import os
import secrets
import sys

import requests

API = "/api/2.0/mlflow"
TAG = "mlflow_aws.promotion."


class Check:
    def __init__(self):
        self.uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
        self.admin = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
        self.users = json.loads(os.environ["MLFLOW_E2E_USERS"])
        self.promoters = json.loads(os.environ["MLFLOW_E2E_PROMOTERS"])
        self.default = os.environ.get("MLFLOW_E2E_DEFAULT_PERMISSION", "READ")
        plain = [u for u in self.users if u not in self.promoters]
        if not plain or not self.promoters:
            sys.exit("extra_client: needs a user who is not a promoter and a promoter")
        self.user, self.promoter = plain[0], self.promoters[0]
        self.suffix = secrets.token_hex(4)

    def auth(self, name):
        return self.admin if name == "admin" else (name, self.users[name])

    def call(self, method, path, who=None, auth=None, **kw):
        if who is not None:
            auth = self.auth(who)
        return requests.request(method, self.uri + path, auth=auth, timeout=60, **kw)

    def expect(self, what, resp, status):
        if resp.status_code != status:
            print(f"FAIL {what}: {resp.status_code} (want {status}) {resp.text[:300]}")
            sys.exit(1)
        print(f"ok   {what}")
        if status == 200 and resp.headers.get("Content-Type", "").startswith("application/json"):
            return resp.json()
        return None


def main():
    c = Check()
    search = f"{API}/experiments/search?max_results=1"
    c.expect("/health without credentials", c.call("GET", "/health"), 200)
    c.expect("no credentials -> 401", c.call("GET", search), 401)
    c.expect("wrong password -> 401", c.call("GET", search, auth=(c.user, "wrong-password-x")), 401)
    c.expect("default admin/password1234 -> 401",
             c.call("GET", search, auth=("admin", "password1234")), 401)
    c.expect("admin logs in", c.call("GET", search, "admin"), 200)
    for name in c.users:
        c.expect(f"{name} logs in", c.call("GET", search, name), 200)

    exp = c.expect("user creates an experiment", c.call(
        "POST", f"{API}/experiments/create", c.user, json={"name": f"e2e-{c.suffix}"}), 200)
    exp_id = exp["experiment_id"]
    readable = c.default in ("READ", "EDIT", "MANAGE")
    c.expect(f"another user reads it ({c.default})", c.call(
        "GET", f"{API}/experiments/get", c.promoter, params={"experiment_id": exp_id}),
        200 if readable else 403)
    c.expect(f"another user renames it ({c.default})", c.call(
        "POST", f"{API}/experiments/update", c.promoter,
        json={"experiment_id": exp_id, "new_name": f"e2e-{c.suffix}-x"}),
        200 if c.default in ("EDIT", "MANAGE") else 403)

    model = f"e2e-model-{c.suffix}"
    run = c.expect("user creates a run", c.call(
        "POST", f"{API}/runs/create", c.user, json={"experiment_id": exp_id}), 200)["run"]["info"]
    c.expect("user registers a model", c.call(
        "POST", f"{API}/registered-models/create", c.user, json={"name": model}), 200)
    for _ in range(2):
        c.expect("user creates a version", c.call(
            "POST", f"{API}/model-versions/create", c.user,
            json={"name": model, "source": f"{run['artifact_uri']}/model",
                  "run_id": run["run_id"]}), 200)

    def alias(who, name, version):
        return c.call("POST", f"{API}/registered-models/alias", who,
                      json={"name": model, "alias": name, "version": str(version)})

    c.expect("user sets staging on v1", alias(c.user, "staging", 1), 200)
    c.expect("user refused production (403)", alias(c.user, "production", 1), 403)
    c.expect("promoter refused production on v2, not in staging (400)",
             alias(c.promoter, "production", 2), 400)
    c.expect("promoter sets production on v1", alias(c.promoter, "production", 1), 200)
    mv = c.expect("version 1 read back", c.call(
        "GET", f"{API}/model-versions/get", "admin", params={"name": model, "version": "1"}),
        200)["model_version"]
    tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
    if tags.get(TAG + "by") != c.promoter or tags.get(TAG + "from_alias") != "staging":
        print(f"FAIL promotion tags: {tags}")
        return 1
    print(f"ok   promotion recorded: {TAG}by={tags[TAG + 'by']} at={tags.get(TAG + 'at')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
