"""The MLflow client side of TestRealMLflowSpoolBound: one artifact transfer per call.

Run by the Go test with the tracking server venv's python; MLFLOW_TRACKING_URI points at the
real server (proxied artifacts; the client's presigned multipart transfers are off, so every
byte passes through the server). Commands, each printing one JSON object:

  run                          creates a run; {"run_id": ...}
  upload RUN_ID NAME MIB       logs a file of MIB random MiB as artifact NAME
  download RUN_ID NAME SHA256  downloads artifact NAME and compares its SHA-256
  put RUN_ID NAME MIB...       several uploads at once (threads, started together once every
                               file is written), one result per name

A result is {"ok": true, "seconds": ...} or {"ok": false, "error": "..."}: a refused transfer is
an outcome the test asserts, not a crash of this script.
"""

import concurrent.futures
import hashlib
import json
import os
import sys
import tempfile
import threading
import time

from mlflow import MlflowClient


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def upload(client, run_id, name, mib, ready=None):
    """Uploads a file of mib random MiB; with ready (a threading.Barrier) the transfer starts only
    when every upload of the barrier has its file written, so concurrent uploads overlap."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        digest = sha256_file(path)
        if ready is not None:
            ready.wait(timeout=120)
        started = time.monotonic()
        try:
            client.log_artifact(run_id, path)
        except Exception as e:  # noqa: BLE001 - the outcome is reported
            return {"ok": False, "error": " ".join(str(e).split())[:300], "seconds": time.monotonic() - started}
        return {"ok": True, "sha256": digest, "seconds": time.monotonic() - started}


def download(client, run_id, name, want):
    with tempfile.TemporaryDirectory() as d:
        started = time.monotonic()
        try:
            path = client.download_artifacts(run_id, name, d)
        except Exception as e:  # noqa: BLE001 - the outcome is reported
            return {"ok": False, "error": " ".join(str(e).split())[:300], "seconds": time.monotonic() - started}
        got = sha256_file(path)
        return {"ok": got == want, "sha256": got, "seconds": time.monotonic() - started}


def main(argv):
    client = MlflowClient()
    cmd = argv[0]
    if cmd == "run":
        out = {"run_id": client.create_run(client.create_experiment("spool-e2e")).info.run_id}
    elif cmd == "upload":
        out = upload(client, argv[1], argv[2], int(argv[3]))
    elif cmd == "download":
        out = download(client, argv[1], argv[2], argv[3])
    elif cmd == "put":
        run_id, pairs = argv[1], list(zip(argv[2::2], argv[3::2]))
        ready = threading.Barrier(len(pairs))
        with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
            futures = {name: pool.submit(upload, client, run_id, name, int(mib), ready) for name, mib in pairs}
        out = {name: f.result() for name, f in futures.items()}
    else:
        raise SystemExit("unknown command " + cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
