"""The auth database on a real PostgreSQL 15 (TLS, verify-full), across an MLflow upgrade.

MLFLOW_AWS_OLD_VENV names a venv with the oldest MLflow the product accepts (3.5.0) and this
package installed; the venv running pytest holds the newest. Without it the test is skipped and
says so: run it as README.md in this directory shows.
"""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ADMIN, Site
from test_server import API, grant, ok, permission_of, set_alias, version_of

OLD_VENV = os.environ.get("MLFLOW_AWS_OLD_VENV")


def mlflow_version(venv_bin):
    return subprocess.run([str(venv_bin / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not OLD_VENV, reason="MLFLOW_AWS_OLD_VENV (a venv with MLflow 3.5.0) not set")
def test_auth_db_created_and_migrated_from_oldest_to_newest(tmp_path, postgres, start_server):
    old_bin = Path(OLD_VENV) / "bin"
    old_version = mlflow_version(old_bin)
    import mlflow

    assert old_version != mlflow.__version__, "MLFLOW_AWS_OLD_VENV holds the same MLflow"
    site = Site(tmp_path / "site", users=["alice", "bob"], promoters=["bob"],
                backend_uri=postgres.uri("mlflow"), auth_uri=postgres.uri("mlflow_auth"),
                venv_bin=old_bin, extra_env={"PGPASSWORD": postgres.password})

    # Oldest release: the bootstrap creates the mlflow_auth database and its schema.
    assert postgres.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname='mlflow_auth'") == "0"
    site.bootstrap()
    assert postgres.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname='mlflow_auth'") == "1"
    srv = start_server(site)
    exp = ok(srv.call("POST", f"{API}/experiments/create", "alice",
                      json={"name": "before-upgrade"}))["experiment_id"]
    grant(srv, "alice", "experiment", exp, "bob", "EDIT")
    ok(srv.call("POST", f"{API}/registered-models/create", "alice", json={"name": "m-pg"}))
    run = ok(srv.call("POST", f"{API}/runs/create", "alice",
                      json={"experiment_id": exp}))["run"]["info"]
    ok(srv.call("POST", f"{API}/model-versions/create", "alice",
                json={"name": "m-pg", "source": f"{run['artifact_uri']}/model",
                      "run_id": run["run_id"]}))
    srv.stop()

    # MLflow 3.5's auth migrations keep their revision in `alembic_version`, the table the
    # tracking schema uses: pointed at the tracking database they fail with "Can't locate
    # revision" (mlflow/mlflow#10052). A database of its own avoids that on every release.
    shared = subprocess.run(
        [str(old_bin / "python"), "-m", "mlflow.server.auth", "db", "upgrade",
         "--url", postgres.uri("mlflow")],
        env=site.env(), capture_output=True, text=True, timeout=300)
    if old_version.startswith("3.5."):
        assert shared.returncode != 0 and "Can't locate revision" in shared.stderr, shared.stderr

    # Newest release: tracking schema upgrade (the launcher's `mlflow db upgrade`), then the
    # bootstrap migrates the auth schema (3.6 moved its revision to alembic_version_auth and
    # stamps databases made before that: mlflow/mlflow#18760).
    site.venv_bin = Path(os.sys.executable).parent
    upgrade = subprocess.run([str(site.venv_bin / "mlflow"), "db", "upgrade",
                              postgres.uri("mlflow")],
                             env=site.env(), capture_output=True, text=True, timeout=600)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    site.bootstrap()
    assert postgres.sql("mlflow_auth", "SELECT count(*) FROM alembic_version_auth") == "1"
    srv = start_server(site)
    for user in [ADMIN, "alice", "bob"]:
        ok(srv.call("GET", f"{API}/experiments/get", user, params={"experiment_id": exp}))
    assert permission_of(srv, "experiment", exp, "bob") == "EDIT"
    assert permission_of(srv, "experiment", exp, "alice") == "MANAGE"
    assert srv.call("GET", f"{API}/experiments/search?max_results=1",
                    auth=("admin", "password1234")).status_code == 401
    # The promotion rule on the upgraded server; alice's MANAGE on her model survived.
    ok(set_alias(srv, "alice", "m-pg", "staging", 1))
    assert set_alias(srv, "alice", "m-pg", "production", 1).status_code == 403
    # bob's EDIT on the model was granted by the plugin on 3.5 and survived the migration.
    ok(set_alias(srv, "bob", "m-pg", "production", 1))
    assert "production" in version_of(srv, "m-pg", 1)["aliases"]
