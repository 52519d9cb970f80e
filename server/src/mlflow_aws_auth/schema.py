"""One safe migration of MLflow's backend store schema per version change.

``prepare(uri, conn)`` is called by the tracking server's launcher (through the user data's
mlflow-db-state helper, which owns the connection) before ``mlflow server`` starts, with a
SQLAlchemy connection in AUTOCOMMIT mode (no open transaction may hold locks the migration's DDL
would wait for). It follows MLflow's upgrade guide (stop every writer, back up, migrate, start):

1. ``pg_advisory_lock(LOCK_KEY)`` on that connection, held until the caller closes it: however
   many servers start at once, exactly one migrates, the others wait and then find the schema
   current.
2. The schema revision (table ``alembic_version``) against the installed MLflow's migrations
   (``mlflow/store/db_migrations``): none yet -> "empty" (``mlflow server`` creates the schema);
   this release's head -> "current"; a revision this MLflow does not know -> a newer schema, a
   downgrade: refused (EXIT_SCHEMA_NEWER), nothing touched.
3. Otherwise an RDS snapshot ``<db>-mlflow-<old>-to-<new>-<UTC yyyymmddhhmmss>`` is created with
   boto3 and waited for until ``available`` (restorable); only then ``mlflow db upgrade``
   runs. A failed snapshot refuses the migration (EXIT_SNAPSHOT_FAILED); a failed migration
   exits EXIT_UPGRADE_FAILED, the snapshot holding the database as it was.
4. The release is recorded in table ``mlflow_aws_server`` (one row): the ``<old>`` of the next
   snapshot's name (``rev-<revision>`` when a database predates the record).

The DB instance identifier is ``$MLFLOW_DB_INSTANCE_IDENTIFIER`` or the first DNS label of the
RDS endpoint, ``<identifier>.<hash>.<region>.rds.amazonaws.com`` (Amazon RDS User Guide,
"Finding the connection information for an RDS for PostgreSQL DB instance"). Messages go to
stderr as single lines prefixed "mlflow-db-state: " (the journal).
"""

import os
import re
import subprocess
import sys
import time
from importlib.metadata import version

# "mlflow" in ASCII: the advisory lock key of the backend store's schema migration.
LOCK_KEY = 0x6D6C666C6F77
EXIT_SCHEMA_NEWER, EXIT_SNAPSHOT_FAILED, EXIT_UPGRADE_FAILED = 3, 4, 5


def say(message):
    print("mlflow-db-state: " + message, file=sys.stderr, flush=True)


def snapshot_name(identifier, old, new, now=None):
    """The RDS snapshot identifier for a migration from release old to new.

    RDS rules: 1-255 letters, digits and hyphens, a letter first, no two consecutive hyphens, no
    hyphen at the end (Amazon RDS API Reference, CreateDBSnapshot). Dots and anything else become
    hyphens; the UTC time (yyyymmddhhmmss) keeps a retried migration's snapshot apart.
    """
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    name = "-".join([identifier, "mlflow", old, "to", new, stamp]).lower()
    name = re.sub("-+", "-", re.sub("[^a-z0-9-]", "-", name))
    return name[:255].strip("-")


def db_instance_identifier(uri):
    import sqlalchemy

    return os.environ.get("MLFLOW_DB_INSTANCE_IDENTIFIER") or sqlalchemy.engine.make_url(uri).host.split(".")[0]


def snapshot(identifier, name):
    """Creates the RDS snapshot name of identifier and waits until it is available (boto3, the
    instance role; the waiter polls every 30 s for up to 30 minutes); True on success."""
    import boto3

    say("creating RDS snapshot %s of %s before the migration" % (name, identifier))
    try:
        rds = boto3.client("rds")
        rds.create_db_snapshot(DBInstanceIdentifier=identifier, DBSnapshotIdentifier=name)
        rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=name)
    except Exception as exc:  # noqa: BLE001 - any failure refuses the migration
        say("RDS snapshot %s failed, not migrating: %s" % (name, " ".join(str(exc).split())))
        return False
    say("RDS snapshot %s is available" % name)
    return True


def prepare(uri, conn):
    """Readies the database behind conn for the installed MLflow; returns (state, exit status)."""
    from sqlalchemy import text

    conn.execute(text("SELECT pg_advisory_lock(%d)" % LOCK_KEY))
    new = version("mlflow")
    conn.execute(text("CREATE TABLE IF NOT EXISTS mlflow_aws_server (id int PRIMARY KEY, version text NOT NULL)"))
    old = conn.execute(text("SELECT version FROM mlflow_aws_server")).scalar()
    record = text("INSERT INTO mlflow_aws_server VALUES (1, :v) ON CONFLICT (id) DO UPDATE SET version = :v")
    if not conn.execute(text("SELECT to_regclass('alembic_version')")).scalar():
        conn.execute(record, {"v": new})
        return "empty", 0

    from alembic.script import ScriptDirectory
    import mlflow.store.db_migrations as migrations

    script = ScriptDirectory(os.path.dirname(migrations.__file__))
    rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if rev not in {r.revision for r in script.walk_revisions()}:
        say("refusing to downgrade: the database schema (revision %s, last run by MLflow %s) is newer "
            "than MLflow %s; set mlflowVersion back to %s, or restore the pre-upgrade RDS snapshot "
            "(docs/operations.md)" % (rev, old or "unknown", new, old or "that release"))
        return None, EXIT_SCHEMA_NEWER
    if rev in script.get_heads():
        conn.execute(record, {"v": new})
        return "current", 0
    old = old or "rev-" + rev
    identifier = db_instance_identifier(uri)
    if not snapshot(identifier, snapshot_name(identifier, old, new)):
        return None, EXIT_SNAPSHOT_FAILED
    say("running mlflow db upgrade (schema revision %s, MLflow %s -> %s)" % (rev, old, new))
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    if subprocess.run([mlflow_cli, "db", "upgrade", uri]).returncode:
        say("mlflow db upgrade failed; the snapshot above holds the database as it was")
        return None, EXIT_UPGRADE_FAILED
    conn.execute(record, {"v": new})
    return "upgraded", 0
