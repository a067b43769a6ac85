#!/usr/bin/env bash
# Start / stop / kill the throwaway SecantusDB server used by the test suite.
#
#   LAD_TEST_MONGO_DIR   state directory: data/ (WiredTiger files), server.pid, server.log
#   LAD_TEST_MONGO_PORT  loopback port
#   LAD_TEST_VENV        virtualenv holding secantusd-py (default: <repo>/.test-venv)
#
# `stop` (SIGTERM, clean shutdown) or `kill` (SIGKILL, a crash) followed by `start` brings the
# server back on the same port with the same data: that is how the outage test simulates a
# database that goes away and comes back. scripts/test.sh exports this script's path as
# LAD_TEST_MONGO_CTL.
set -euo pipefail

cmd=${1:?usage: $0 start|stop|kill|restart|status}
dir=${LAD_TEST_MONGO_DIR:?LAD_TEST_MONGO_DIR is not set}
port=${LAD_TEST_MONGO_PORT:?LAD_TEST_MONGO_PORT is not set}
venv=${LAD_TEST_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.test-venv}
pidfile=$dir/server.pid

running() {
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

ping() {
  "$venv/bin/python" - "$port" <<'PY' >/dev/null 2>&1
import sys, pymongo
c = pymongo.MongoClient(host="127.0.0.1", port=int(sys.argv[1]), serverSelectionTimeoutMS=1000)
c.admin.command("ping")
PY
}

start() {
  if running; then echo "test server already running (pid $(cat "$pidfile"))"; return 0; fi
  mkdir -p "$dir/data"
  # stdin/stdout/stderr detached so callers that capture output are not held open.
  "$venv/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$dir/data" \
    --log-level WARNING </dev/null >>"$dir/server.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ping; then echo "test server up on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
    if ! running; then
      echo "test server exited during start-up; last log lines:" >&2
      tail -n 30 "$dir/server.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  echo "test server did not answer ping within 60 s" >&2
  return 1
}

stop() {
  local sig=$1
  if ! running; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
  rm -f "$pidfile"
}

case $cmd in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop TERM; start ;;
  status) if running && ping; then echo up; else echo down; exit 1; fi ;;
  *) echo "unknown command: $cmd" >&2; exit 2 ;;
esac
