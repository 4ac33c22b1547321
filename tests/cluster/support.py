"""The cluster of the cluster tests: vendhub/cluster.py's `Cluster` (HAProxy with the shipped
deploy/haproxy.cfg, three uvicorn processes with README's production command, Redis as a
master, a replica and three sentinels) on free ports, private to the test, pointed at the
test database pytest-django created.

    from tests.cluster.support import cluster_for_tests, haproxy_variant, processes_under

Use the module-scoped `cluster` fixture (tests/cluster/conftest.py) rather than starting one
per test: a start takes ~10 s. Objects the backends must see are created with
`transactional_db` (committed), as with any live server.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import unavailable
from tests.live import ROOT, UNTHROTTLED_LOGINS, test_database_url
from vendhub.cluster import HAPROXY_CONFIG, Cluster

#: The cluster's Django processes: development mode (the test's fast password hashes, no
#: static collection), no login throttle (tests log in many times from 127.0.0.1).
TEST_ENV = {"DEBUG": "1", "FAST_PASSWORD_HASHING": "1", **UNTHROTTLED_LOGINS}


def require_cluster_binaries() -> None:
    missing = [name for name in ("haproxy", "redis-server")
               if not (shutil.which(name) or shutil.which(name, path="/usr/sbin"))]
    if missing:
        unavailable(f"{', '.join(missing)} not installed: `make bootstrap` installs them")


@contextmanager
def cluster_for_tests(*, env: dict[str, str] | None = None, watchdog: bool = False,
                      **options):
    """A started `Cluster` on the test database; stopped (every process) on exit. `env` is
    added to the Django processes' environment (e.g. REALTIME_PING_INTERVAL_MS)."""
    require_cluster_binaries()
    url = test_database_url()
    if not url.startswith("postgres"):
        unavailable("the cluster needs PostgreSQL (DATABASE_URL): several processes share it")
    directory = ROOT / "test-artifacts" / f"cluster-{os.getpid()}-{id(options)}"
    shutil.rmtree(directory, ignore_errors=True)
    cluster = Cluster(database_url=url, directory=directory, watchdog=watchdog,
                      env={**TEST_ENV, **(env or {})}, **options)
    with cluster:
        yield cluster


def haproxy_variant(cluster: Cluster, *, sticky: bool = True, served_by: bool = False) -> Path:
    """A copy of the shipped deploy/haproxy.cfg, written in the cluster's directory:
    without its cookie stickiness (`sticky=False`: plain round robin), and/or with a
    response header `X-Served-By: appN` naming the server that answered."""
    text = HAPROXY_CONFIG.read_text()
    if not sticky:
        text = re.sub(r"^\s*cookie VENDHUB_BACKEND .*\n", "", text, flags=re.M)
        text = re.sub(r"( server app\d+ \S+) cookie app\d+", r"\1", text)
        assert "cookie" not in "".join(
            line for line in text.splitlines(True) if not line.lstrip().startswith("#"))
    if served_by:
        text = text.replace("backend asgi\n",
                            "backend asgi\n    http-response set-header X-Served-By %s\n")
    path = cluster.directory / f"haproxy-{'sticky' if sticky else 'roundrobin'}.cfg"
    path.write_text(text)
    return path


def processes_under(pid: int) -> set[int]:
    """`pid` and its descendants, from /proc (children started in sessions of their own
    included: they keep their parent)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone: they have exited)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running
