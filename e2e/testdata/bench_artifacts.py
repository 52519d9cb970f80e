"""Artifact throughput for BenchmarkLaunchVsSeed: one 100 MiB file, logged and downloaded through
the tracking server (proxied, MLFLOW_TRACKING_URI), then put and got directly at S3 (moto,
BENCH_S3_ENDPOINT_URL, BENCH_BUCKET, AWS credentials in the environment) with boto3's managed
transfer. Prints one JSON line of MB/s (10^6 bytes per second): ProxiedUp, ProxiedDown,
DirectUp, DirectDown."""

import json
import os
import tempfile
import time

import boto3
import mlflow

SIZE = 100 * 1024 * 1024


def timed(fn):
    started = time.time()
    fn()
    return SIZE / (time.time() - started) / 1e6


with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "blob.bin")
    with open(src, "wb") as f:
        for _ in range(SIZE // (1 << 20)):
            f.write(os.urandom(1 << 20))
    mlflow.set_experiment("bench-artifacts")
    with mlflow.start_run() as run:
        proxied_up = timed(lambda: mlflow.log_artifact(src))
    dst = os.path.join(d, "down")
    os.mkdir(dst)
    proxied_down = timed(
        lambda: mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="blob.bin", dst_path=dst)
    )
    s3 = boto3.client("s3", endpoint_url=os.environ["BENCH_S3_ENDPOINT_URL"])
    bucket = os.environ["BENCH_BUCKET"]
    direct_up = timed(lambda: s3.upload_file(src, bucket, "artifacts/bench-direct/blob.bin"))
    direct_down = timed(lambda: s3.download_file(bucket, "artifacts/bench-direct/blob.bin", os.path.join(d, "direct.bin")))
    print(json.dumps({"ProxiedUp": proxied_up, "ProxiedDown": proxied_down, "DirectUp": direct_up, "DirectDown": direct_down}))
