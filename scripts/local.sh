#!/usr/bin/env bash
# scripts/local.sh up|down: run the whole deployment against moto, a local AWS emulator, with
# no AWS account (the `local` stack, Pulumi.local.yaml). Called by `make local-up` and
# `make local-down`; see docs/delivery.md.
#
#   up    start moto_server on 127.0.0.1:5555 (pid file .pulumi/moto.pid, log .pulumi/moto.log),
#         use a file backend under .pulumi/ (through PULUMI_BACKEND_URL, so the user's own
#         `pulumi login` is left alone), select or create the stack, pulumi up, print the outputs.
#   down  pulumi destroy, then stop the moto_server this script started.
#
# Needs on PATH: pulumi (with the aws and random provider plugins, or network to fetch them),
# go, moto_server (pip install 'moto[server]') and aws (the AWS CLI, for the pre-flight check).
# Environment: PULUMI_CONFIG_PASSPHRASE (default "local": the local stack holds only moto's
# dummy secrets), MOTO_PORT (default 5555; Pulumi.local.yaml's endpoints must match).
set -euo pipefail

readonly stack=local
readonly moto_host=127.0.0.1
readonly moto_port="${MOTO_PORT:-5555}"
readonly endpoint="http://${moto_host}:${moto_port}"
readonly region=us-east-1
readonly ami_parameter=/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly state_dir="$repo_root/.pulumi"
readonly pid_file="$state_dir/moto.pid"
readonly moto_log="$state_dir/moto.log"

log() {
  printf 'local.sh: %s\n' "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (see docs/delivery.md, \"Local stack\")"
  done
}

# moto's dummy credentials for the AWS CLI; the Pulumi provider takes them from Pulumi.local.yaml.
aws_local() {
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN='' AWS_PROFILE='' \
    aws --endpoint-url "$endpoint" --region "$region" "$@"
}

port_open() {
  (exec 3<>"/dev/tcp/${moto_host}/${moto_port}") 2>/dev/null
}

# moto_pid prints the pid in the pid file when that process is still a running moto_server.
moto_pid() {
  local pid
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -qa moto "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

start_moto() {
  if moto_pid >/dev/null; then
    log "moto_server already running (pid $(moto_pid)) on $endpoint"
    return
  fi
  if port_open; then
    die "$moto_host:$moto_port is taken by another process; stop it or set MOTO_PORT (and the endpoints in Pulumi.local.yaml)"
  fi
  mkdir -p "$state_dir"
  log "starting moto_server on $endpoint (log: $moto_log)"
  # AmazonSSMManagedInstanceCore, which the tracking server's role attaches, exists in moto
  # only with the AWS managed policies loaded.
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup moto_server -H "$moto_host" -p "$moto_port" >"$moto_log" 2>&1 &
  printf '%s\n' "$!" >"$pid_file"
  local i
  for ((i = 0; i < 60; i++)); do
    if port_open; then
      log "moto_server is up (pid $(<"$pid_file"))"
      return
    fi
    moto_pid >/dev/null || die "moto_server exited; see $moto_log"
    sleep 0.5
  done
  die "moto_server did not listen on $endpoint within 30s; see $moto_log"
}

stop_moto() {
  local pid
  if pid="$(moto_pid)"; then
    log "stopping moto_server (pid $pid)"
    kill "$pid"
    local i
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  else
    log "no moto_server started by this script is running"
  fi
  rm -f "$pid_file"
}

# preflight checks that moto answers the look-ups the program makes before it registers
# anything: the default VPC, its subnets, the instance type offerings and the public AL2023
# AMI parameter (moto ships it; AWS and moto refuse put-parameter on /aws/ names).
preflight() {
  local vpc ami
  vpc="$(aws_local ec2 describe-vpcs --filters Name=is-default,Values=true --query 'Vpcs[0].VpcId' --output text)"
  [[ "$vpc" == vpc-* ]] || die "moto has no default VPC in $region"
  ami="$(aws_local ssm get-parameter --name "$ami_parameter" --query Parameter.Value --output text)" ||
    die "moto does not serve $ami_parameter; upgrade moto (5.x ships the public AMI parameters)"
  log "moto: default VPC $vpc, AL2023 AMI $ami"
}

pulumi_env() {
  mkdir -p "$state_dir"
  export PULUMI_BACKEND_URL="file://$state_dir"
  export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-local}"
  # Keep a developer's AWS profile or session out of the provider; Pulumi.local.yaml sets keys.
  unset AWS_PROFILE AWS_SESSION_TOKEN
  cd "$repo_root"
}

up() {
  require pulumi go moto_server aws
  start_moto
  preflight
  pulumi_env
  pulumi stack select --create --secrets-provider passphrase "$stack"
  # A restarted moto has forgotten everything: drop what the state remembers but moto lacks.
  pulumi refresh --yes --skip-preview --stack "$stack"
  pulumi up --yes --stack "$stack"
  pulumi stack output --stack "$stack"
}

down() {
  require pulumi
  pulumi_env
  if moto_pid >/dev/null; then
    pulumi destroy --yes --stack "$stack"
  else
    log "moto_server is not running: nothing to destroy in it; dropping the local stack's state"
    # --preserve-config keeps Pulumi.local.yaml, which `stack rm` would otherwise delete.
    pulumi stack rm --yes --force --preserve-config --stack "$stack" 2>/dev/null || true
  fi
  stop_moto
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *)
    printf 'usage: %s up|down\n' "$0" >&2
    exit 2
    ;;
esac
