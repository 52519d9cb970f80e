"""The plugin's settings: the [mlflow_aws] section of MLflow's own auth config file.

MLflow's basic-auth app reads the [mlflow] section of the file named by MLFLOW_AUTH_CONFIG_PATH
(mlflow/server/auth/config.py: read_auth_config). This plugin keeps its settings in the same
file, in its own section, so one non-secret file describes who may do what:

    [mlflow_aws]
    users = alice, bob          # users as code; a name not listed is disabled at bootstrap
    promoters = bob             # may set/move the production alias (admin always may)
    production_alias = production
    staging_alias = staging
    maintenance_database = postgres   # where CREATE DATABASE for the auth DB is issued

Passwords are never in this file: they reach `mlflow-aws-auth bootstrap` on stdin.
"""

import configparser
import os
import re
from dataclasses import dataclass

SECTION = "mlflow_aws"
# The insecure defaults of MLflow's packaged basic_auth.ini (<= 3.17); never acceptable here.
LEGACY_DEFAULT_ADMIN = ("admin", "password1234")
_NAME_LIST = re.compile(r"[\s,]+")


class SettingsError(Exception):
    """The auth configuration is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Settings:
    config_path: str
    admin_username: str
    default_permission: str
    database_uri: str
    users: tuple
    promoters: tuple
    production_alias: str
    staging_alias: str
    maintenance_database: str


def _names(value):
    return tuple(n for n in _NAME_LIST.split(value.strip()) if n)


def load_settings():
    """Read and validate the auth config file; raise SettingsError listing every problem."""
    path = os.environ.get("MLFLOW_AUTH_CONFIG_PATH", "")
    if not path:
        # Without it MLflow falls back to its packaged basic_auth.ini (admin "admin", and up to
        # 3.17 the password "password1234", SQLite in the working directory).
        raise SettingsError("MLFLOW_AUTH_CONFIG_PATH is not set")
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise SettingsError(f"MLFLOW_AUTH_CONFIG_PATH={path}: file missing or unreadable")
    problems = []
    mlflow = parser["mlflow"] if parser.has_section("mlflow") else {}
    ours = parser[SECTION] if parser.has_section(SECTION) else {}
    admin = (mlflow.get("admin_username") or "").strip()
    if not admin:
        problems.append("[mlflow] admin_username is empty")
    if (mlflow.get("admin_password") or "").strip():
        problems.append(
            "[mlflow] admin_password must be empty: the admin password reaches "
            "`mlflow-aws-auth bootstrap` on stdin, never a file"
        )
    database_uri = (mlflow.get("database_uri") or "").strip()
    if not database_uri:
        problems.append("[mlflow] database_uri is empty")
    default_permission = (mlflow.get("default_permission") or "").strip()
    if default_permission not in ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS"):
        problems.append(
            f"[mlflow] default_permission={default_permission!r}: "
            "allowed READ, EDIT, MANAGE, NO_PERMISSIONS"
        )
    users = _names(ours.get("users", ""))
    promoters = _names(ours.get("promoters", ""))
    if admin in users:
        problems.append(f"[{SECTION}] users: {admin!r} is the admin, not a user")
    if len(set(users)) != len(users):
        problems.append(f"[{SECTION}] users: a name is listed twice")
    stray = [p for p in promoters if p not in users and p != admin]
    if stray:
        problems.append(f"[{SECTION}] promoters {stray} are not in users")
    production = ours.get("production_alias", "production").strip()
    staging = ours.get("staging_alias", "staging").strip()
    if not production or not staging or production.lower() == staging.lower():
        problems.append(
            f"[{SECTION}] production_alias and staging_alias must be set and differ"
        )
    if problems:
        raise SettingsError(f"{path}: " + "; ".join(problems))
    return Settings(
        config_path=path,
        admin_username=admin,
        default_permission=default_permission,
        database_uri=database_uri,
        users=users,
        promoters=promoters,
        production_alias=production,
        staging_alias=staging,
        maintenance_database=ours.get("maintenance_database", "postgres").strip(),
    )
