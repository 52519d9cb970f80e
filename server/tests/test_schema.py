"""mlflow_aws_auth.schema's pure parts: the pre-upgrade snapshot's name.

The migration itself (advisory lock, snapshot, mlflow db upgrade, refusals) runs on real
PostgreSQL with the real venvs in e2e/upgrade_test.go (TestRealUpgradeSafety).
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlflow_aws_auth.schema import snapshot_name  # noqa: E402

# Amazon RDS API Reference, CreateDBSnapshot, DBSnapshotIdentifier.
RDS_SNAPSHOT_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,254}(?<!-)$")


def test_names_carry_both_releases_with_dots_mapped():
    name = snapshot_name("mlflow-aws-prod", "3.5.0", "3.17.2", now=0)
    assert name == "mlflow-aws-prod-mlflow-3-5-0-to-3-17-2-19700101000000"
    assert RDS_SNAPSHOT_ID.match(name)


def test_awkward_inputs_still_give_legal_identifiers():
    for ident, old, new in [
        ("a" * 63, "rev-1b5f0d9ad7c1", "3.17.2"),
        ("db", "unknown..", "10.0.0rc1"),
        ("x-", "-3.5.0-", "3.17.2"),
        ("Upper", "3_5_0", "3.17.2+local"),
    ]:
        name = snapshot_name(ident, old, new, now=1764504000)
        assert RDS_SNAPSHOT_ID.match(name), name
        assert len(name) <= 255
        assert name.endswith("-20251130120000")
