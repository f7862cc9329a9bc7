#!/usr/bin/env bash
# Starts a local S3-compatible server (moto, from PyPI, in a private virtual
# environment) on loopback, creates the test bucket, and prints the environment the
# S3 tests read. Source its output:
#   eval "$(scripts/s3-server.sh start)"     ...     scripts/s3-server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/s3-venv
pidfile=target/s3-server.pid
case "${1:-start}" in
stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "== installing moto[server] into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5.1' >&2
fi
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >target/s3-server.log 2>&1 &
echo $! > "$pidfile"
endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    if "$venv/bin/python" - "$endpoint" >/dev/null 2>&1 <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
s3.create_bucket(Bucket="drift-test")
PY
    then
        cat <<ENV
export DRIFT_S3_ENDPOINT=$endpoint
export DRIFT_S3_BUCKET=drift-test
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
ENV
        exit 0
    fi
    sleep 0.2
done
echo "error: the local S3 server did not start (see target/s3-server.log)" >&2
exit 1
