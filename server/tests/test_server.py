"""The `mlflow-aws` app on a real `mlflow server` (SQLite stores): auth and the promotion rule."""

import re
import threading
import time

import pytest
import requests

from conftest import ADMIN, Server, Site

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
TAG = "mlflow_aws.promotion."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """alice and bob are users, bob the only promoter, defaultPermission READ; two workers so
    the hooks are shown to be installed in every worker process."""
    site = Site(tmp_path_factory.mktemp("site"), users=["alice", "bob"], promoters=["bob"])
    site.bootstrap()
    srv = Server(site, workers=2)
    try:
        srv.start().wait_healthy()
        yield srv
    finally:
        srv.stop()


def ok(resp):
    assert resp.status_code == 200, f"{resp.status_code} {resp.text}"
    return resp.json()


def grant(srv, owner, resource_type, resource_id, username, permission):
    """The owner grants a permission: MLflow >= 3.17 (RBAC) has one v3 endpoint, older
    releases one legacy endpoint per resource type."""
    resp = srv.call("POST", "/api/3.0/mlflow/users/permissions/grant", owner,
                    json={"username": username, "resource_type": resource_type,
                          "resource_id": resource_id, "permission": permission})
    if resp.status_code == 404:
        path, key = {"experiment": ("experiments", "experiment_id"),
                     "registered_model": ("registered-models", "name")}[resource_type]
        resp = srv.call("POST", f"{API}/{path}/permissions/create", owner,
                        json={key: resource_id, "username": username, "permission": permission})
    return ok(resp)


def permission_of(srv, resource_type, resource_id, username):
    resp = srv.call("GET", "/api/3.0/mlflow/users/permissions/get", ADMIN,
                    params={"username": username, "resource_type": resource_type,
                            "resource_id": resource_id})
    if resp.status_code == 404:
        path, key = {"experiment": ("experiments", "experiment_id"),
                     "registered_model": ("registered-models", "name")}[resource_type]
        body = ok(srv.call("GET", f"{API}/{path}/permissions/get", ADMIN,
                           params={key: resource_id, "username": username}))
        return next(iter(body.values()))["permission"]
    return ok(resp)["permission"]


def new_model_with_versions(srv, owner, name, count):
    """`owner` creates an experiment, a run and model `name` with `count` versions. Nobody
    grants bob anything: as a promoter he gets EDIT on every new model from the app."""
    exp = ok(srv.call("POST", f"{API}/experiments/create", owner, json={"name": name}))
    run = ok(srv.call("POST", f"{API}/runs/create", owner,
                      json={"experiment_id": exp["experiment_id"]}))["run"]["info"]
    ok(srv.call("POST", f"{API}/registered-models/create", owner, json={"name": name}))
    for _ in range(count):
        ok(srv.call("POST", f"{API}/model-versions/create", owner,
                    json={"name": name, "source": f"{run['artifact_uri']}/model",
                          "run_id": run["run_id"]}))
    return exp["experiment_id"]


def set_alias(srv, user, name, alias, version, base=API):
    return srv.call("POST", f"{base}/registered-models/alias", user,
                    json={"name": name, "alias": alias, "version": str(version)})


def version_of(srv, name, version):
    return ok(srv.call("GET", f"{API}/model-versions/get", ADMIN,
                       params={"name": name, "version": str(version)}))["model_version"]


def tags_of(mv):
    return {t["key"]: t["value"] for t in mv.get("tags", [])}


def test_health_needs_no_credentials(server):
    assert server.call("GET", "/health").status_code == 200


@pytest.mark.parametrize("path", [f"{API}/experiments/search?max_results=1",
                                  f"{AJAX}/experiments/search?max_results=1", "/graphql", "/"])
def test_no_credentials_is_401(server, path):
    assert server.call("GET", path).status_code == 401


@pytest.mark.parametrize("method,path", [("POST", "/v1/traces"), ("GET", "/ajax-api/3.0/jobs/1"),
                                         ("POST", "/ajax-api/3.0/jobs/search")])
def test_fastapi_native_routes_need_credentials(server, method, path):
    """Routes FastAPI serves outside the Flask app (MLflow 3.5's basic-auth leaves them open)."""
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "0"}
    assert server.call(method, path, headers=headers, data=b"").status_code == 401
    wrong = ("alice", "not-her-password-123")
    assert server.call(method, path, auth=wrong, headers=headers, data=b"").status_code == 401


def test_otlp_traces_need_edit_on_the_experiment(server):
    exp = ok(server.call("POST", f"{API}/experiments/create", "alice",
                         json={"name": "traces-alice"}))["experiment_id"]
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": exp}
    # bob has READ (defaultPermission) on alice's experiment: he may not write traces there.
    assert server.call("POST", "/v1/traces", "bob", headers=headers, data=b"").status_code == 403
    # alice passes auth; the OTLP handler then rejects the empty export itself.
    resp = server.call("POST", "/v1/traces", "alice", headers=headers, data=b"")
    assert resp.status_code not in (401, 403), resp.text


def test_wrong_password_is_401(server):
    path = f"{API}/experiments/search?max_results=1"
    assert server.call("GET", path, auth=("alice", "not-her-password-123")).status_code == 401
    assert server.call("GET", path, auth=(ADMIN, server.site.passwords["alice"])).status_code == 401


@pytest.mark.parametrize("user", [ADMIN, "alice", "bob"])
def test_configured_users_log_in(server, user):
    ok(server.call("GET", f"{API}/experiments/search?max_results=1", user))
    me = ok(server.call("GET", f"{API}/users/get", ADMIN, params={"username": user}))["user"]
    assert me["is_admin"] is (user == ADMIN)


@pytest.mark.parametrize("auth", [("admin", "password1234"), (ADMIN, "password1234")])
def test_default_admin_password_never_works(server, auth):
    assert server.call("GET", f"{API}/experiments/search?max_results=1",
                       auth=auth).status_code == 401


def test_default_permission_on_another_users_experiment(server):
    exp = ok(server.call("POST", f"{API}/experiments/create", "alice",
                         json={"name": "alice-private"}))["experiment_id"]
    # READ (defaultPermission): bob sees it but may not change it.
    ok(server.call("GET", f"{API}/experiments/get", "bob", params={"experiment_id": exp}))
    resp = server.call("POST", f"{API}/experiments/update", "bob",
                       json={"experiment_id": exp, "new_name": "taken-by-bob"})
    assert resp.status_code == 403
    ok(server.call("POST", f"{API}/experiments/update", "alice",
                   json={"experiment_id": exp, "new_name": "alice-renamed"}))


def test_user_may_set_staging_but_not_production(server):
    new_model_with_versions(server, "alice", "m-user", 1)
    ok(set_alias(server, "alice", "m-user", "staging", 1))
    for base, alias in [(API, "production"), (AJAX, "production"), (API, "Production")]:
        resp = set_alias(server, "alice", "m-user", alias, 1, base=base)
        assert resp.status_code == 403, (base, alias, resp.text)
        assert "promotion rule" in resp.json()["message"]
    assert "production" not in version_of(server, "m-user", 1).get("aliases", [])


def test_promoter_needs_staging_then_succeeds_and_is_recorded(server):
    new_model_with_versions(server, "alice", "m-promo", 2)
    ok(set_alias(server, "alice", "m-promo", "staging", 1))
    resp = set_alias(server, "bob", "m-promo", "production", 2)
    assert resp.status_code == 400, resp.text
    assert "does not hold the 'staging' alias" in resp.json()["message"]
    assert "promotion rule" in resp.json()["message"]

    ok(set_alias(server, "bob", "m-promo", "production", 1))
    mv = version_of(server, "m-promo", 1)
    assert {"staging", "production"} <= set(mv["aliases"])
    tags = tags_of(mv)
    assert tags[TAG + "by"] == "bob"
    assert tags[TAG + "from_alias"] == "staging"
    assert tags[TAG + "to"] == "production"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", tags[TAG + "at"])
    assert "promotion: m-promo version 1 -> production by bob" in server.logs()
    assert set_alias(server, "bob", "m-promo", "production", 99).status_code == 404
    # Moving production to a version that is not in staging is refused like a first promotion.
    assert set_alias(server, "bob", "m-promo", "production", 2).status_code == 400
    # Only a promoter may take production away.
    resp = server.call("DELETE", f"{API}/registered-models/alias", "alice",
                       json={"name": "m-promo", "alias": "production"})
    assert resp.status_code == 403, resp.text
    assert "production" in version_of(server, "m-promo", 1)["aliases"]


def test_promoters_get_edit_on_new_models_and_users_do_not(server):
    new_model_with_versions(server, "alice", "m-grants", 1)
    assert permission_of(server, "registered_model", "m-grants", "bob") == "EDIT"
    assert permission_of(server, "registered_model", "m-grants", "alice") == "MANAGE"
    # A plain user keeps defaultPermission (READ): no alias changes on alice's model.
    new_model_with_versions(server, "bob", "m-bobs", 1)
    assert set_alias(server, "alice", "m-bobs", "staging", 1).status_code == 403


def test_admin_may_promote_without_grants(server):
    new_model_with_versions(server, "alice", "m-admin", 1)
    ok(set_alias(server, "alice", "m-admin", "staging", 1))
    ok(set_alias(server, ADMIN, "m-admin", "production", 1))
    assert tags_of(version_of(server, "m-admin", 1))[TAG + "by"] == ADMIN


def transition(srv, user, name, version, stage, base=API):
    return srv.call("POST", f"{base}/model-versions/transition-stage", user,
                    json={"name": name, "version": str(version), "stage": stage,
                          "archive_existing_versions": False})


def test_legacy_stage_transition_obeys_the_rule(server):
    new_model_with_versions(server, "alice", "m-legacy", 2)
    ok(transition(server, "alice", "m-legacy", 1, "Staging"))
    for base, stage in [(API, "Production"), (AJAX, "production")]:
        resp = transition(server, "alice", "m-legacy", 1, stage, base=base)
        assert resp.status_code == 403, resp.text
    resp = transition(server, "bob", "m-legacy", 2, "Production")
    assert resp.status_code == 400, resp.text
    assert "not Staging" in resp.json()["message"]
    ok(transition(server, "bob", "m-legacy", 1, "Production"))
    mv = version_of(server, "m-legacy", 1)
    assert mv["current_stage"] == "Production"
    tags = tags_of(mv)
    assert (tags[TAG + "by"], tags[TAG + "from_stage"]) == ("bob", "Staging")
    # Taking a version out of Production is a promoter's act too.
    assert transition(server, "alice", "m-legacy", 1, "Archived").status_code == 403
    # Requests the rule cannot evaluate are answered with MLflow's own errors (fail closed).
    assert transition(server, "bob", "m-legacy", 1, "Prod").status_code == 400
    assert transition(server, "bob", "m-legacy", 99, "Production").status_code == 404


def test_real_client_sees_the_rule(server, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    new_model_with_versions(server, "alice", "m-client", 1)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server.site.passwords["alice"])
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.set_registered_model_alias("m-client", "staging", "1")
    with pytest.raises(MlflowException, match="promotion rule"):
        client.set_registered_model_alias("m-client", "production", "1")


def test_no_secret_in_argv_or_logs(server):
    """Passwords and the secret key reach the server only through stdin (bootstrap) and the
    environment: not in any process's argv of the server's process group, nor in its log."""
    import os

    site = server.site
    secrets_ = [site.admin_password, site.secret_key, *site.passwords.values()]
    argvs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != server.proc.pid:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argvs.append(f.read().decode(errors="replace"))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    assert len(argvs) >= 2, argvs  # mlflow server and its uvicorn
    logs = server.logs()
    for secret in secrets_:
        assert not any(secret in a for a in argvs)
        assert secret not in logs


def test_extra_client_script_passes(server):
    """tests/extra_client.py is what the end-to-end test's extra-client hook runs; run it here
    with the hook's environment so it is known to work."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, MLFLOW_TRACKING_URI=server.url, MLFLOW_TRACKING_USERNAME=ADMIN,
               MLFLOW_TRACKING_PASSWORD=server.site.admin_password,
               MLFLOW_E2E_USERS=json.dumps(server.site.passwords),
               MLFLOW_E2E_PROMOTERS=json.dumps(server.site.promoters))
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("extra_client.py"))],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   promotion recorded" in proc.stdout


def test_graphql_cannot_set_aliases_or_stages():
    """The rule guards the REST handlers; GraphQL must offer no other way to mutate. If MLflow
    adds a mutation, this fails and the rule must cover it."""
    from mlflow.server.graphql.graphql_schema_extensions import schema

    mutations = set(schema.graphql_schema.mutation_type.fields)
    assert mutations <= {"mlflowSearchRuns", "mlflowSearchDatasets", "testMutation"}, mutations


def test_every_route_to_a_guarded_handler_is_known():
    """The hook matches handlers, not paths; list the paths so a reviewer sees what is covered."""
    from mlflow.server import handlers

    guarded = {handlers._set_registered_model_alias, handlers._delete_registered_model_alias,
               handlers._transition_stage}
    paths = sorted(p for p, h, _ in handlers.get_endpoints() if h in guarded)
    assert f"{API}/registered-models/alias" in paths
    assert f"{AJAX}/model-versions/transition-stage" in paths
    assert all(re.match(r"^/(api|ajax-api)/2\.0/mlflow/", p) for p in paths), paths


# Startup, restart and the default admin --------------------------------------------------------
def test_server_refuses_to_start_without_bootstrap(tmp_path, start_server):
    """The guard in create_app: no admin in the auth database -> the worker never loads, so
    nothing is served. (mlflow server 3.17 itself then exits 0, not 1: systemd must restart on
    any exit, Restart=always, which the unit has.)"""
    site = Site(tmp_path, users=["alice"], promoters=[])
    srv = start_server(site, wait=False)
    deadline = time.monotonic() + 180
    while srv.proc.poll() is None and time.monotonic() < deadline:
        try:
            resp = requests.get(srv.url + "/health", timeout=2)
            pytest.fail(f"a server without bootstrap answered /health {resp.status_code}")
        except requests.ConnectionError:
            time.sleep(0.3)
    assert srv.proc.poll() is not None, "server without a bootstrapped auth DB kept running"
    assert "run `mlflow-aws-auth bootstrap` before `mlflow server`" in srv.logs()


def test_default_admin_never_works_during_startup(tmp_path, start_server):
    """Poll with the default credentials from before the bootstrap until the server has served
    for a while: no answer may be a 200."""
    site = Site(tmp_path, users=["alice"], promoters=[])
    stop = threading.Event()
    seen = []
    port_holder = {}

    def poll():
        while not stop.is_set():
            port = port_holder.get("port")
            if port is None:
                time.sleep(0.05)
                continue
            for auth in [("admin", "password1234"), (ADMIN, "password1234")]:
                try:
                    r = requests.get(f"http://127.0.0.1:{port}{API}/experiments/search",
                                     params={"max_results": 1}, auth=auth, timeout=5)
                    seen.append(r.status_code)
                except requests.RequestException:
                    seen.append(None)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        site.bootstrap()
        srv = start_server(site, wait=False)
        port_holder["port"] = srv.port
        srv.wait_healthy()
        time.sleep(2)
        assert srv.call("GET", f"{API}/experiments/search?max_results=1", ADMIN).status_code == 200
    finally:
        stop.set()
        thread.join(timeout=30)
    answered = [s for s in seen if s is not None]
    assert answered, "the poller never reached the server"
    assert 200 not in seen, seen
    assert set(answered) == {401}, set(answered)


def test_restart_keeps_users_permissions_and_secret_key(tmp_path, start_server):
    site = Site(tmp_path, users=["alice", "bob", "carol"], promoters=["bob"])
    site.bootstrap()
    srv = start_server(site)
    exp = ok(srv.call("POST", f"{API}/experiments/create", "alice",
                      json={"name": "kept"}))["experiment_id"]
    grant(srv, "alice", "experiment", exp, "bob", "EDIT")
    # A CSRF token and session cookie minted by the first server; they validate after the
    # restart only if the Flask secret key is the same.
    session = requests.Session()
    session.auth = site.creds(ADMIN)
    page = session.get(srv.url + "/signup")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    token = token or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    assert token, page.text[:2000]
    srv.stop()

    # carol leaves the team: removed from the config, bootstrap disables her.
    del site.passwords["carol"]
    site.write_config()
    site.bootstrap()
    srv = start_server(site)
    for user in [ADMIN, "alice", "bob"]:
        ok(srv.call("GET", f"{API}/experiments/get", user, params={"experiment_id": exp}))
    assert permission_of(srv, "experiment", exp, "bob") == "EDIT"
    ok(srv.call("POST", f"{API}/experiments/update", "bob",
                json={"experiment_id": exp, "new_name": "kept-by-bob"}))
    resp = session.post(srv.url + "/api/2.0/mlflow/users/create-ui",
                        data={"csrf_token": token.group(1), "username": "dave",
                              "password": "dave-password-long-enough"})
    assert resp.status_code == 200, resp.text[:500]
    assert "CSRF" not in resp.text, resp.text[:500]
    assert srv.call("GET", f"{API}/users/get", ADMIN,
                    params={"username": "dave"}).status_code == 200


def test_removed_user_is_disabled(tmp_path, start_server):
    site = Site(tmp_path, users=["alice", "carol"], promoters=["carol"])
    site.bootstrap()
    old = dict(site.passwords)
    del site.passwords["carol"]
    site.promoters = []
    site.write_config()
    proc = site.bootstrap()
    assert "disabled users not in the config: carol" in proc.stderr
    for secret in [site.admin_password, *old.values()]:
        assert secret not in proc.stderr + proc.stdout
    srv = start_server(site)
    path = f"{API}/experiments/search?max_results=1"
    assert srv.call("GET", path, auth=("carol", old["carol"])).status_code == 401
    carol = ok(srv.call("GET", f"{API}/users/get", ADMIN, params={"username": "carol"}))["user"]
    assert carol["is_admin"] is False
    ok(srv.call("GET", path, "alice"))


def test_bootstrap_refuses_missing_user_password(tmp_path):
    site = Site(tmp_path, users=["alice"], promoters=[])
    site.passwords["alice"] = ""
    proc = site.bootstrap(check=False)
    assert proc.returncode == 1
    assert "no value for parameter(s) /mlflow-aws/test/auth/users/alice" in proc.stderr


def test_bootstrap_reports_every_config_problem_at_once(tmp_path):
    site = Site(tmp_path, users=["alice"], promoters=[])
    site.config_path.write_text(
        "[mlflow]\ndefault_permission = WRITE\ndatabase_uri = sqlite:///x.db\n"
        f"admin_username = {ADMIN}\nadmin_password = password1234\n"
        "[mlflow_aws]\nusers = alice\npromoters = mallory\n"
        "production_alias = staging\nstaging_alias = staging\n")
    proc = site.bootstrap(check=False)
    assert proc.returncode == 1
    for problem in ["default_permission='WRITE'", "admin_password must be empty",
                    "promoters ['mallory'] are not in users", "must be set and differ"]:
        assert problem in proc.stderr, proc.stderr
    assert "password1234" not in proc.stderr.replace("admin_password", "")
