"""Real `mlflow server --app-name mlflow-aws` processes on 127.0.0.1 for the tests.

The venv running pytest must have mlflow[auth] and this package installed (`pip install -e
server/`): the server is started from that venv's `mlflow` script, exactly as the launcher does.
Every server and database a test starts is stopped by its fixture, also when the test fails.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

VENV_BIN = Path(sys.executable).parent
ADMIN = "mlflow-admin"
PARAMETER_PATH = "/mlflow-aws/test/auth"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssm_json(path, admin_password, users):
    """What `aws ssm get-parameters-by-path --with-decryption --output json` prints."""
    params = [{"Name": f"{path}/admin-password", "Type": "SecureString", "Value": admin_password}]
    params += [
        {"Name": f"{path}/users/{n}", "Type": "SecureString", "Value": p} for n, p in users.items()
    ]
    return json.dumps({"Parameters": params})


class Site:
    """One deployment's state: config file, stores, secrets; survives server restarts."""

    def __init__(self, root, users, promoters, default_permission="READ",
                 backend_uri=None, auth_uri=None, venv_bin=VENV_BIN, extra_env=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.venv_bin = Path(venv_bin)
        self.admin_password = secrets.token_urlsafe(24)
        self.passwords = {u: secrets.token_urlsafe(24) for u in users}
        self.promoters = list(promoters)
        self.default_permission = default_permission
        self.backend_uri = backend_uri or f"sqlite:///{self.root}/mlflow.db"
        self.auth_uri = auth_uri or f"sqlite:///{self.root}/auth.db"
        self.secret_key = secrets.token_hex(32)
        self.extra_env = dict(extra_env or {})
        self.write_config()

    @property
    def config_path(self):
        return self.root / "auth.ini"

    def write_config(self):
        # configparser interpolation: a literal % in the URI must be written %%.
        text = (
            "[mlflow]\n"
            f"default_permission = {self.default_permission}\n"
            f"database_uri = {self.auth_uri.replace('%', '%%')}\n"
            f"admin_username = {ADMIN}\n"
            "admin_password =\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "\n[mlflow_aws]\n"
            f"users = {', '.join(self.passwords)}\n"
            f"promoters = {', '.join(self.promoters)}\n"
        )
        self.config_path.write_text(text)
        self.config_path.chmod(0o600)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(
            MLFLOW_AUTH_CONFIG_PATH=str(self.config_path),
            MLFLOW_FLASK_SERVER_SECRET_KEY=self.secret_key,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def bootstrap(self, check=True):
        proc = subprocess.run(
            [str(self.venv_bin / "mlflow-aws-auth"), "bootstrap", "--parameter-path",
             PARAMETER_PATH],
            input=ssm_json(PARAMETER_PATH, self.admin_password, self.passwords),
            env=self.env(), cwd=self.root, capture_output=True, text=True, timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"bootstrap failed:\n{proc.stderr}")
        return proc

    def creds(self, user):
        return (ADMIN, self.admin_password) if user == ADMIN else (user, self.passwords[user])


class Server:
    """`mlflow server --app-name mlflow-aws` for a Site; stop() kills its whole process group."""

    def __init__(self, site, workers=1):
        self.site = site
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = site.root / f"server-{self.port}.log"
        self.workers = workers
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(self.site.venv_bin / "mlflow"), "server", "--app-name", "mlflow-aws",
             "--backend-store-uri", self.site.backend_uri,
             "--artifacts-destination", str(self.site.root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.site.env(), cwd=self.site.root, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_healthy(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"server not healthy after {timeout}s:\n{self.logs()}")

    def logs(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        else:
            # The main process is gone; make sure no worker of its group lingers.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        self.proc = None

    # REST helpers -----------------------------------------------------------------------
    def call(self, method, path, user=None, auth=None, **kwargs):
        if user is not None:
            auth = self.site.creds(user)
        return requests.request(method, self.url + path, auth=auth, timeout=60, **kwargs)


@pytest.fixture
def start_server():
    """start_server(site, workers=1) -> a healthy Server, stopped at teardown."""
    started = []

    def start(site, workers=1, wait=True):
        server = Server(site, workers)
        started.append(server)
        server.start()
        return server.wait_healthy() if wait else server

    yield start
    for server in started:
        server.stop()


# PostgreSQL 15 -------------------------------------------------------------------------------
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr}{proc.stdout}")
    return proc


class Postgres:
    """A throwaway PostgreSQL 15 on 127.0.0.1 with TLS (a test CA signs the server certificate,
    so clients connect with sslmode=verify-full like the tracking server does against RDS)."""

    def __init__(self, root):
        self.root = Path(root)
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.user = "mlflow"

    def _as_postgres(self, cmd):
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return _run(cmd)

    def start(self):
        self.root.chmod(0o755)
        tls = self.root / "tls"
        tls.mkdir()
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=test-ca", "-keyout", str(tls / "ca.key"), "-out", str(tls / "ca.crt")])
        _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
              "-keyout", str(tls / "server.key"), "-out", str(tls / "server.csr")])
        ext = tls / "ext.cnf"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _run(["openssl", "x509", "-req", "-in", str(tls / "server.csr"), "-CA", str(tls / "ca.crt"),
              "-CAkey", str(tls / "ca.key"), "-CAcreateserial", "-days", "2",
              "-extfile", str(ext), "-out", str(tls / "server.crt")])
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            for f in (pwfile, tls / "server.key", tls / "server.crt"):
                shutil.chown(f, "postgres", "postgres")
            shutil.chown(tls, "postgres", "postgres")
        (tls / "server.key").chmod(0o600)
        pwfile.chmod(0o600)
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "scram-sha-256",
                           f"--pwfile={pwfile}", "-U", self.user])
        # Only TLS connections from 127.0.0.1 are accepted (like rds.force_ssl=1).
        (self.data / "pg_hba.conf").write_text(
            "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
        self.started = True
        self._as_postgres([
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"), "-w",
            "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c ssl=on "
                  f"-c ssl_cert_file={tls / 'server.crt'} -c ssl_key_file={tls / 'server.key'}",
            "start"])
        self.ca = tls / "ca.crt"
        os.chmod(self.ca, 0o644)
        # The backend store database (RDS creates it as the DB name); the auth DB is left to
        # the bootstrap.
        self.sql("postgres", "CREATE DATABASE mlflow")
        return self

    def libpq_uri(self, database):
        return (f"postgresql://{self.user}@localhost:{self.port}/{database}"
                f"?sslmode=verify-full&sslrootcert={self.ca}")

    def uri(self, database):
        # The driver is explicit: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg (3), not
        # psycopg2 (sqlalchemy/dialects/postgresql/__init__.py: base.dialect).
        return self.libpq_uri(database).replace("postgresql://", "postgresql+psycopg2://", 1)

    def sql(self, database, statement):
        env = dict(os.environ, PGPASSWORD=self.password)
        return subprocess.run(
            ["psql", self.libpq_uri(database), "-v", "ON_ERROR_STOP=1", "-tAc", statement],
            env=env, check=True, capture_output=True, text=True).stdout.strip()

    def stop(self):
        if getattr(self, "started", False):
            self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                               "-w", "stop"])
            self.started = False


@pytest.fixture
def postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 binaries not found in {PG_BIN} (set PG_BIN)")
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    root = tempfile.mkdtemp(prefix="mlflow-aws-auth-pg-")
    pg = Postgres(root)
    try:
        pg.start()
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
