#!/usr/bin/env bash
# Runs the whole test suite: `scripts/test.sh [cargo test args...]`.
#
# The service-mode integration tests need a MongoDB-wire server. If LAD_TEST_MONGO_URI is
# set, they use it (e.g. a genuine MongoDB) and this script starts nothing. Otherwise it
# installs SecantusDB (PyPI `secantusdb`, a MongoDB-compatible server on WiredTiger) into
# .test-venv, starts it on a free loopback port with its data under .test-mongo/, exports
#   LAD_TEST_MONGO_URI   mongodb://127.0.0.1:PORT/
#   LAD_TEST_MONGO_CTL   scripts/mongo-test-server.sh: `stop`/`kill`/`start` (used by the
#                        outage test; same port and data directory after a restart)
#   LAD_TEST_MONGO_PORT, LAD_TEST_MONGO_DIR, LAD_TEST_VENV (read by that script)
# and stops the server when the tests end (or on Ctrl-C).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

SECANTUS_VERSION=0.7.0b3  # only a beta exists: pin it

if [[ -z "${LAD_TEST_MONGO_URI:-}" ]]; then
  export LAD_TEST_VENV=$repo/.test-venv
  if [[ ! -x $LAD_TEST_VENV/bin/secantusd-py ]]; then
    echo "installing secantusdb==$SECANTUS_VERSION into .test-venv (first run only)" >&2
    python3 -m venv "$LAD_TEST_VENV"
    "$LAD_TEST_VENV/bin/pip" install -q "secantusdb==$SECANTUS_VERSION"
  fi
  LAD_TEST_MONGO_PORT=$("$LAD_TEST_VENV/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export LAD_TEST_MONGO_PORT
  mkdir -p "$repo/.test-mongo"
  LAD_TEST_MONGO_DIR=$(mktemp -d "$repo/.test-mongo/run.XXXXXX")
  export LAD_TEST_MONGO_DIR
  export LAD_TEST_MONGO_CTL=$repo/scripts/mongo-test-server.sh
  cleanup() {
    "$LAD_TEST_MONGO_CTL" stop || true
    rm -rf "$LAD_TEST_MONGO_DIR"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  "$LAD_TEST_MONGO_CTL" start
  export LAD_TEST_MONGO_URI="mongodb://127.0.0.1:$LAD_TEST_MONGO_PORT/"
else
  echo "using the MongoDB server at LAD_TEST_MONGO_URI (the outage test needs LAD_TEST_MONGO_CTL)" >&2
fi

cargo test --workspace "$@"
