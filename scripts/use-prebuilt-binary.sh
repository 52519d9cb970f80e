#!/usr/bin/env bash
# scripts/use-prebuilt-binary.sh [Pulumi.yaml]: point the Go language host at the binary
# `make build` writes (bin/mlflow-aws) instead of letting `pulumi` compile the program again.
#
# The Go language host honours only Pulumi.yaml's runtime option `binary` (no environment
# variable), so CI rewrites its working copy's one line
#     runtime: go
# into
#     runtime: {name: go, options: {binary: bin/mlflow-aws}}
# before `pulumi preview` / `pulumi up`. Idempotent: a file that already names the binary is
# left alone; any other runtime line is an error (the patch would be a guess).
set -euo pipefail

readonly file="${1:-Pulumi.yaml}"
readonly binary=bin/mlflow-aws
readonly patched="runtime: {name: go, options: {binary: ${binary}}}"

if grep -qxF "$patched" "$file"; then
  echo "$file already runs $binary"
  exit 0
fi
if ! grep -qx 'runtime: go' "$file"; then
  echo "error: $file has no line 'runtime: go' to patch; set runtime.options.binary: $binary by hand" >&2
  exit 1
fi
sed -i "s|^runtime: go\$|${patched}|" "$file"
grep -qxF "$patched" "$file"
echo "$file now runs the prebuilt $binary"
