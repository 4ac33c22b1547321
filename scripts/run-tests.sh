#!/usr/bin/env bash
# Runs the whole test suite. PostgreSQL and Redis are used when reachable (defaults below);
# under CI=true an unreachable one is an error, never a silent fallback.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG=1
export FAST_PASSWORD_HASHING=1
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vendhub}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

reachable() {  # reachable URL -> exit 0 when a TCP connection to its host:port succeeds
  .venv/bin/python - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
try:
    socket.create_connection((u.hostname or "127.0.0.1", u.port or {"redis": 6379}.get(u.scheme, 5432)), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

for name in DATABASE_URL REDIS_URL; do
  url="${!name}"
  if ! reachable "$url"; then
    if [ "${CI:-}" = "true" ]; then
      echo "ERROR: $name=$url is not reachable, and CI must run the PostgreSQL and Redis tests." >&2
      exit 1
    fi
    echo "WARNING: $name=$url is not reachable: falling back to the embedded default; tests that need it will be skipped." >&2
    unset "$name"
  fi
done

echo "Tests against DATABASE_URL=${DATABASE_URL:-sqlite (embedded)} REDIS_URL=${REDIS_URL:-in-memory layer}"
exec .venv/bin/pytest "$@"
