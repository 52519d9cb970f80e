"""`mlflow-aws-auth bootstrap`: prepare the auth database before `mlflow server` starts.

Run once per start by the launcher, after `mlflow db upgrade` and before `mlflow server`, with
MLFLOW_AUTH_CONFIG_PATH set (settings.py) and, for PostgreSQL, PGPASSWORD in the environment
(libpq reads it; the URI carries no password). Steps, each idempotent:

1. PostgreSQL only: CREATE DATABASE for the auth database when missing, issued on the
   maintenance database (default `postgres`) of the same server, same user, same TLS options.
2. Creates or migrates the auth schema to this MLflow's head: SqlAlchemyStore.init_db, the same
   call basic-auth's create_app makes (mlflow/server/auth/sqlalchemy_store.py), here in one
   process so several uvicorn workers never migrate concurrently.
3. The admin (config admin_username) exists, is admin, and has the password from stdin.
4. Every configured user exists, is not admin, and has its password from stdin.
5. Every other user (e.g. a name removed from the config, or a stray `admin`) is disabled:
   its password is replaced by 32 random bytes nobody keeps and its admin flag is cleared.
   The row and its permissions stay, so its experiments keep their history and putting the
   name back restores its grants; nobody can log in as it in between.

Passwords arrive on stdin as the JSON the AWS CLI prints for
`aws ssm get-parameters-by-path --path PATH --recursive --with-decryption --output json`:
PATH/admin-password is the admin's, PATH/users/<name> each user's. Nothing secret is taken
from argv, environment or files, and nothing secret is logged.
"""

import argparse
import json
import logging
import secrets
import sys

from mlflow_aws_auth.settings import LEGACY_DEFAULT_ADMIN, SettingsError, load_settings

_log = logging.getLogger("mlflow_aws_auth.bootstrap")


class BootstrapError(Exception):
    pass


def parse_secrets(document, path, settings):
    """Map the AWS CLI's parameter list to (admin password, {user: password})."""
    try:
        params = {p["Name"]: p["Value"] for p in json.loads(document)["Parameters"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise BootstrapError(f"stdin is not AWS CLI get-parameters-by-path JSON: {exc!r}")
    path = "/" + path.strip("/")
    admin_password = params.get(f"{path}/admin-password", "")
    if not admin_password:
        raise BootstrapError(f"no value for parameter {path}/admin-password")
    users = {}
    missing = []
    for name in settings.users:
        value = params.get(f"{path}/users/{name}", "")
        if not value:
            missing.append(f"{path}/users/{name}")
        users[name] = value
    if missing:
        raise BootstrapError(f"no value for parameter(s) {', '.join(missing)}")
    return admin_password, users


def ensure_database(settings):
    """CREATE DATABASE <auth db> on PostgreSQL when it does not exist."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_uri)
    if not url.drivername.startswith("postgresql") or not url.database:
        return
    engine = sqlalchemy.create_engine(
        url.set(database=settings.maintenance_database),
        isolation_level="AUTOCOMMIT",
        poolclass=sqlalchemy.pool.NullPool,
    )
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                {"n": url.database},
            ).first()
            if exists:
                return
            quoted = conn.dialect.identifier_preparer.quote_identifier(url.database)
            try:
                conn.execute(sqlalchemy.text(f"CREATE DATABASE {quoted}"))
                _log.info("created database %s", url.database)
            except sqlalchemy.exc.ProgrammingError as exc:
                # Another server created it between the check and here.
                if "already exists" not in str(exc):
                    raise
    finally:
        engine.dispose()


def sync_users(store, settings, admin_password, users):
    """Steps 3-5 of the module docstring; returns the names it disabled."""
    admin = settings.admin_username
    if not store.has_user(admin):
        store.create_user(admin, admin_password, is_admin=True)
        _log.info("created admin user %s", admin)
    elif not store.authenticate_user(admin, admin_password):
        store.update_user(admin, password=admin_password)
        _log.info("set the password of admin user %s", admin)
    if not store.get_user(admin).is_admin:
        store.update_user(admin, is_admin=True)
    for name, password in users.items():
        if not store.has_user(name):
            store.create_user(name, password, is_admin=False)
            _log.info("created user %s", name)
            continue
        if not store.authenticate_user(name, password):
            store.update_user(name, password=password)
            _log.info("set the password of user %s", name)
        if store.get_user(name).is_admin:
            store.update_user(name, is_admin=False)
    disabled = []
    for user in store.list_users():
        if user.username == admin or user.username in users:
            continue
        store.update_user(user.username, password=secrets.token_urlsafe(32), is_admin=False)
        disabled.append(user.username)
    if disabled:
        _log.info("disabled users not in the config: %s", ", ".join(sorted(disabled)))
    if store.authenticate_user(*LEGACY_DEFAULT_ADMIN):
        raise BootstrapError("MLflow's default admin password still works; refusing to continue")
    return disabled


def bootstrap(settings, admin_password, users):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    ensure_database(settings)
    store = SqlAlchemyStore()
    store.init_db(settings.database_uri)
    try:
        return sync_users(store, settings, admin_password, users)
    finally:
        store.engine.dispose()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mlflow-aws-auth")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("bootstrap", help=__doc__.splitlines()[0])
    run.add_argument(
        "--parameter-path",
        required=True,
        help="SSM path whose admin-password and users/<name> parameters are on stdin",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mlflow-aws-auth: %(message)s"))
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    from mlflow.exceptions import MlflowException

    try:
        settings = load_settings()
        admin_password, users = parse_secrets(sys.stdin.read(), args.parameter_path, settings)
        bootstrap(settings, admin_password, users)
    except (SettingsError, BootstrapError) as exc:
        _log.error("%s", exc)
        return 1
    except MlflowException as exc:
        # e.g. a password MLflow's validation refuses; the message never holds the password.
        _log.error("%s", exc.message)
        return 1
    _log.info(
        "auth database ready: admin %s, %d user(s), promoters %s",
        settings.admin_username,
        len(users),
        ", ".join(settings.promoters) or "(none)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
