"""Redis of `make cluster`: one master, one replica and three sentinels (quorum 2), on
loopback ports, with generated configurations in the cluster's directory.

What a deployment runs on three hosts (README "Deployment"): each host one sentinel, two of
them a Redis server. No persistence here (`--save ""`): the cluster is for trying things and
for tests; the replica holds the data a failover keeps.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from vendhub.cluster_processes import Process, free_port, wait_until

MASTER_NAME = "vendhub"


def sentinel_argv(config: Path) -> list[str]:
    """Debian's `redis-sentinel` when installed (Makefile .stamp-redis-sentinel), else the
    same binary's `redis-server --sentinel` mode."""
    if shutil.which("redis-sentinel"):
        return ["redis-sentinel", str(config)]
    return ["redis-server", str(config), "--sentinel"]


def client(port: int, host: str = "127.0.0.1") -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1,
                       decode_responses=True)


class RedisSentinelSet:
    """The master, the replica and the sentinels; `sentinels` as REDIS_SENTINELS wants them.
    `down_after_ms` is how long the sentinels wait before they call the master down (short
    in tests: a failover within a few seconds)."""

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", down_after_ms: int = 2000,
                 failover_timeout_ms: int = 10_000, master_port: int | None = None,
                 replica_port: int | None = None,
                 sentinel_ports: list[int] | None = None) -> None:
        self.directory = directory
        self.host = host
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.master_port = master_port or free_port(host)
        self.replica_port = replica_port or free_port(host)
        self.sentinel_ports = sentinel_ports or [free_port(host) for _ in range(3)]
        self.servers: list[Process] = []
        self.sentinel_processes: list[Process] = []

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(self.host, port) for port in self.sentinel_ports]

    @property
    def sentinels_setting(self) -> str:
        """The value of REDIS_SENTINELS."""
        return ",".join(f"{host}:{port}" for host, port in self.sentinels)

    @property
    def processes(self) -> list[Process]:
        return [*self.servers, *self.sentinel_processes]

    def _server(self, name: str, port: int, *extra: str) -> Process:
        data = self.directory / name
        data.mkdir(parents=True, exist_ok=True)
        return Process(name, ["redis-server", "--port", str(port), "--bind", self.host,
                              "--save", "", "--appendonly", "no", "--dir", str(data), *extra],
                       self.directory / "logs" / f"{name}.log", port=port)

    def _sentinel_config(self, index: int, port: int) -> Path:
        # The sentinel rewrites its file (it records the other sentinels, the replicas and
        # each failover), so each gets its own, in a directory it may write.
        path = self.directory / f"sentinel-{index}.conf"
        path.write_text("\n".join([
            f"port {port}",
            f"bind {self.host}",
            f"dir {self.directory}",
            f"sentinel monitor {MASTER_NAME} {self.host} {self.master_port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
            "",
        ]))
        return path

    def start(self, timeout: float = 30.0) -> RedisSentinelSet:
        master = self._server("redis-master", self.master_port).start()
        self.servers.append(master)
        wait_until(lambda: client(self.master_port).ping(), timeout=timeout,
                   what="Redis master", process=master)
        replica = self._server("redis-replica", self.replica_port, "--replicaof", self.host,
                               str(self.master_port)).start()
        self.servers.append(replica)
        wait_until(lambda: client(self.replica_port).info("replication")
                   .get("master_link_status") == "up",
                   timeout=timeout, what="Redis replica in sync", process=replica)
        for index, port in enumerate(self.sentinel_ports, start=1):
            config = self._sentinel_config(index, port)
            sentinel = Process(f"sentinel-{index}", sentinel_argv(config),
                               self.directory / "logs" / f"sentinel-{index}.log",
                               port=port).start()
            self.sentinel_processes.append(sentinel)
        for sentinel in self.sentinel_processes:
            wait_until(lambda port=sentinel.port: self._sentinel_ready(port), timeout=timeout,
                       what=f"{sentinel.name} knowing the replica and the other sentinels",
                       process=sentinel, every=0.25)
        return self

    def _sentinel_ready(self, port: int) -> bool:
        state = client(port).sentinel_master(MASTER_NAME)
        return (int(state.get("num-other-sentinels", 0)) >= len(self.sentinel_ports) - 1
                and int(state.get("num-slaves", 0)) >= 1)

    def master_address(self) -> tuple[str, int]:
        """The master as the sentinels see it now (it moves on a failover)."""
        for _host, port in self.sentinels:
            try:
                host, master_port = client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
                return host, int(master_port)
            except (redis.RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel answers")

    def server_on(self, port: int) -> Process:
        return next(p for p in self.servers if p.port == port)

    def stop(self) -> None:
        # Sentinels first: a master stopping under their eyes would start a failover.
        for process in reversed(self.sentinel_processes):
            process.stop()
        for process in reversed(self.servers):
            process.stop()
