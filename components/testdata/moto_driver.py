"""JSON-lines bridge from TestTrackingServerPolicyEnforcedByMoto to boto3.

Each stdin line is one AWS call:
  {"service": "s3", "op": "put_object", "params": {...},
   "creds": {"AccessKeyId": "...", "SecretAccessKey": "...", "SessionToken": "..."}}
and produces exactly one stdout line:
  {"result": {...}}                                 on success (ResponseMetadata dropped,
                                                    a streaming Body read as text), or
  {"error": {"Code": "...", "Message": "..."}, "status": 403}   on an AWS error, or
  {"fatal": "..."}                                  on anything else.

The endpoint comes from AWS_ENDPOINT_URL (set by the Go test). Retries are off so that every
request is sent exactly once: moto's INITIAL_NO_AUTH_ACTION_COUNT counts requests, and the Go
test relies on that count being exact. All decisions and assertions live in the Go test.
"""

import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(
    region_name="us-east-1",
    retries={"total_max_attempts": 1, "mode": "standard"},
    s3={"addressing_style": "path"},
)
_clients = {}


def _keep_slash_in_s3_query(request, **_):
    """Work around a moto_server signature bug (moto 5.2.1, werkzeug).

    botocore sends and signs S3 query values percent-encoded (prefix=artifacts%2F). moto_server
    recomputes the SigV4 signature from werkzeug's decoded URL (prefix=artifacts/), so every S3
    call with a "/" in a query value (Prefix="artifacts/", Delimiter="/") fails with
    SignatureDoesNotMatch once IAM enforcement is on. Sending and signing the "/" literally makes
    both sides agree; it changes nothing the policy evaluation sees (same bucket, same prefix).
    """
    parts = urlsplit(request.url)
    if "%2F" in parts.query:
        request.url = urlunsplit(parts._replace(query=parts.query.replace("%2F", "/")))


def client(service, creds):
    key = (service, creds.get("AccessKeyId"), creds.get("SessionToken"))
    if key not in _clients:
        _clients[key] = boto3.client(
            service,
            endpoint_url=os.environ["AWS_ENDPOINT_URL"],
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken") or None,
            config=CONFIG,
        )
        if service == "s3":
            _clients[key].meta.events.register("before-sign.s3", _keep_slash_in_s3_query)
    return _clients[key]


def handle(line):
    req = json.loads(line)
    try:
        resp = getattr(client(req["service"], req["creds"]), req["op"])(**req.get("params", {}))
    except ClientError as e:
        return {
            "error": {k: e.response.get("Error", {}).get(k, "") for k in ("Code", "Message")},
            "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0),
        }
    resp.pop("ResponseMetadata", None)
    body = resp.get("Body")
    if hasattr(body, "read"):
        resp["Body"] = body.read().decode("utf-8", "replace")
    return {"result": resp}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(line)
        except Exception as e:  # noqa: BLE001 - reported to the Go test, which fails on it
            out = {"fatal": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
