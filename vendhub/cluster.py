"""`make cluster`: on one machine, what a production deployment runs on several (README
"Deployment").

    HAProxy (deploy/haproxy.cfg)  ->  3 x uvicorn vendhub.asgi (README's production command)
    manage.py watch_machines          (the offline watchdog and the stopped-selling check)
    manage.py simulate_fleet          (optional: --simulate)
    Redis: master + replica + 3 sentinels (vendhub/cluster_redis.py), reached through Sentinel
    PostgreSQL: DATABASE_URL (not started here: the one the project already uses)

Every process runs in a process group of its own, logs to `<dir>/logs/`, and is waited for
until it answers; Ctrl+C or SIGTERM stops them all, in order, children included. Importable:
the cluster tests start the same `Cluster` on free ports (tests/cluster/support.py).

    .venv/bin/python -m vendhub.cluster [--port 8000] [--simulate] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from vendhub.cluster_processes import Process, free_port, http_status, wait_until
from vendhub.cluster_redis import MASTER_NAME, RedisSentinelSet

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
SERVERS = 3


#: README "Serving": the production uvicorn command's options but its host and port (the
#: cluster, its tests and the benchmarks run it; a test checks README says the same).
UVICORN_OPTIONS = ("--ws", "realtime.server.engine.uvicorn_ws:WebSocketProtocol",
                   "--ws-per-message-deflate", "false", "--ws-max-size", "1048576",
                   "--no-server-header", "--no-date-header")


def uvicorn_argv(host: str, port: int) -> list[str]:
    """README "Serving": the production command, on `host:port`."""
    return [sys.executable, "-m", "uvicorn", "vendhub.asgi:application", "--host", host,
            "--port", str(port), *UVICORN_OPTIONS]


def haproxy_binary() -> str:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if not found:
        raise RuntimeError("haproxy is not installed: run `make bootstrap` "
                           "(Makefile .stamp-haproxy)")
    return found


class Cluster:
    """The whole set. Ports are free ones unless given; `env` is added to every Django
    process's environment (DATABASE_URL must reach PostgreSQL); `haproxy_config` may be
    another file (a test's variant of the shipped one)."""

    def __init__(self, *, database_url: str, directory: Path | None = None,
                 host: str = "127.0.0.1", port: int | None = None,
                 server_ports: list[int] | None = None, watchdog: bool = True,
                 simulate: bool = False, env: dict[str, str] | None = None,
                 haproxy_config: Path = HAPROXY_CONFIG, prefix: str | None = None,
                 sentinel_down_after_ms: int = 2000) -> None:
        self.directory = Path(directory or tempfile.mkdtemp(prefix="vendhub-cluster-"))
        self.host = host
        self.port = port or free_port(host)
        self.server_ports = server_ports or [free_port(host) for _ in range(SERVERS)]
        self.watchdog = watchdog
        self.simulate = simulate
        self.haproxy_config = haproxy_config
        self.redis = RedisSentinelSet(self.directory / "redis", host=host,
                                      down_after_ms=sentinel_down_after_ms)
        self.env = {
            "DATABASE_URL": database_url,
            "REDIS_SENTINELS": self.redis.sentinels_setting,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_URL": "redis://sentinel/0",
            "CHANNEL_LAYER_PREFIX": prefix or f"cluster{self.port}",
            # HAProxy appends the client's address to X-Forwarded-For (option forwardfor).
            "NUM_PROXIES": "1",
            # A draining process fails its health check at once; HAProxy marks it down after
            # two failed checks 2 s apart (deploy/haproxy.cfg), so it keeps its sessions
            # that long before asking them to reconnect elsewhere.
            "REALTIME_DRAIN_DELAY_MS": "4500",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.servers: list[Process] = []
        self.haproxy: Process | None = None
        self.workers: list[Process] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def server_urls(self) -> list[str]:
        return [f"http://{self.host}:{port}" for port in self.server_ports]

    @property
    def processes(self) -> list[Process]:
        return [*self.redis.processes, *self.servers, *filter(None, [self.haproxy]),
                *self.workers]

    def _django(self, name: str, argv: list[str], port: int | None = None) -> Process:
        return Process(name, argv, self.directory / "logs" / f"{name}.log", env=self.env,
                       cwd=ROOT, port=port)

    def start(self, timeout: float = 60.0) -> Cluster:
        try:
            self.redis.start()
            for index, port in enumerate(self.server_ports, start=1):
                self.servers.append(self._django(f"app{index}", uvicorn_argv(self.host, port),
                                                 port).start())
            for server in self.servers:
                wait_until(lambda port=server.port: self._healthy(port), timeout=timeout,
                           what=f"{server.name} answering /healthz", process=server)
            self.haproxy = self.start_haproxy()
            if self.watchdog:
                self.workers.append(self._django(
                    "watchdog", [sys.executable, "manage.py", "watch_machines"]).start())
            if self.simulate:
                self.workers.append(self._django("simulator", [
                    sys.executable, "manage.py", "simulate_fleet", "--url", self.url,
                    "--wait-for-server"]).start())
        except BaseException:
            self.stop()
            raise
        return self

    def haproxy_env(self, name: str = "haproxy", port: int | None = None) -> dict[str, str]:
        """The variables deploy/haproxy.cfg reads (see its header)."""
        env = {f"VENDHUB_APP{index}": f"{self.host}:{server_port}"
               for index, server_port in enumerate(self.server_ports, start=1)}
        return {**env, "VENDHUB_BIND": f"{self.host}:{port or self.port}",
                "VENDHUB_HEALTH_HOST": self.host,
                "VENDHUB_STATS_BIND": f"{self.host}:{free_port(self.host)}",
                "VENDHUB_STATS_SOCKET": str(self.directory / f"{name}.sock")}

    def start_haproxy(self, *, name: str = "haproxy", config: Path | None = None,
                      port: int | None = None, timeout: float = 20.0) -> Process:
        """HAProxy with `config` (the cluster's by default) on `port`, once its health checks
        see every server up. Tests start a second one with a variant of the config."""
        # -db: stay in the foreground, in this process group, logging to the file.
        haproxy = Process(name, [haproxy_binary(), "-db", "-f",
                                 str(config or self.haproxy_config)],
                          self.directory / "logs" / f"{name}.log",
                          env=self.haproxy_env(name, port), port=port or self.port).start()
        if name != "haproxy":
            self.workers.append(haproxy)  # stopped with the cluster
        wait_until(lambda: self.servers_up(name) == len(self.servers), timeout=timeout,
                   what=f"{name} with every server up", process=haproxy, every=0.2)
        return haproxy

    def _healthy(self, port: int) -> bool:
        return http_status(self.host, port, "/healthz") == 200

    def haproxy_stats(self, name: str = "haproxy") -> list[dict[str, str]]:
        """HAProxy's `show stat` rows (one per frontend, server and backend)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(self.directory / f"{name}.sock"))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().lstrip("# ").splitlines()
        header = lines[0].split(",")
        return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]

    def servers_up(self, name: str = "haproxy") -> int:
        """How many of the ASGI processes HAProxy's health checks see up."""
        return sum(1 for row in self.haproxy_stats(name)
                   if row.get("pxname") == "asgi" and row.get("svname", "").startswith("app")
                   and row.get("status") == "UP")

    def describe(self) -> str:
        redis_host, redis_port = self.redis.master_address()
        lines = [
            "",
            f"VendHub cluster (logs and configurations in {self.directory}):",
            f"  {self.url}/  HAProxy (deploy/haproxy.cfg; stats on "
            f"http://{self.haproxy.env['VENDHUB_STATS_BIND']}/), pid {self.haproxy.pid}",
            *(f"    {server.name}  uvicorn on {self.server_urls[i]}, pid {server.pid}"
              for i, server in enumerate(self.servers)),
            f"  Redis master {redis_host}:{redis_port}, replica "
            f"{self.host}:{self.redis.replica_port}, sentinels {self.redis.sentinels_setting} "
            f"(master name {MASTER_NAME})",
            *(f"  {worker.name}  pid {worker.pid}" for worker in self.workers),
            f"  PostgreSQL  {self.env['DATABASE_URL'].rpartition('@')[2]}",
            "  Ctrl+C stops everything.",
            "",
        ]
        return "\n".join(lines)

    def dead(self) -> list[Process]:
        return [p for p in self.processes if p.popen is not None and not p.running()]

    def stop(self) -> None:
        """Workers first (no request cut in flight by a vanished server), then the balancer,
        the servers, and Redis last (the servers' publishes need it until they exit)."""
        for process in reversed(self.workers):
            process.stop()
        if self.haproxy is not None:
            self.haproxy.stop()
        # With the balancer gone a drain delay serves nobody: the first SIGTERM starts each
        # server's drain, the second (in `stop`) makes it exit at once, all in parallel.
        for process in self.servers:
            process.signal(signal.SIGTERM)
        for process in self.servers:
            process.stop()
        self.redis.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--simulate", action="store_true", help="run a simulated fleet too")
    parser.add_argument("--no-watchdog", action="store_true")
    parser.add_argument("--dir", type=Path, help="logs and configurations (default: a temp dir)")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must name PostgreSQL: several processes share it")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # Ctrl+C stops the cluster even when this process was started with SIGINT ignored (a
    # shell without job control ignores it for background commands, and Python then never
    # raises KeyboardInterrupt): leaving the cluster running would orphan every process.
    signal.signal(signal.SIGINT, on_signal)
    cluster = Cluster(database_url=database_url, directory=args.dir, host=args.host,
                      port=args.port, simulate=args.simulate, watchdog=not args.no_watchdog)
    try:
        cluster.start()
        print(cluster.describe(), flush=True)
        while not (dead := cluster.dead()):
            time.sleep(0.5)
        for process in dead:
            print(f"{process.name} exited ({process.popen.returncode}):\n{process.log_tail()}",
                  file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("Stopping the cluster...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM: finish stopping
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()
        print("Cluster stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
