"""The servers under test: the product (vendhub.asgi under uvicorn and daphne) and the
references (bench/refs/), with how load generators reach and feed each of them."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field, replace

import orjson

from vendhub.cluster import UVICORN_OPTIONS

from .procs import PYTHON, ROOT, Proc, free_port

SIO_PATH = "/socket.io/?EIO=4&transport=websocket"
#: The Node.js reference (socket.io 4.8, Redis adapter, Redis emitter): `make bench`
#: installs its packages (bench/refs/node/package-lock.json).
NODE_REFERENCE = ROOT / "bench" / "refs" / "node"


def node_available() -> bool:
    return shutil.which("node") is not None and (NODE_REFERENCE / "node_modules").is_dir()


@dataclass
class Target:
    name: str
    kind: str  # "project" or "reference"
    server: str  # "uvicorn" | "daphne" | "websockets"
    app: str  # ASGI app path or module
    client_mode: str  # swarm --mode: "sio" or "raw"
    path: str
    publisher_mode: str  # publisher --mode
    #: first publish rate of the fan-out ladder, events/s to 1000 subscribers
    start_rate: float
    env: dict = field(default_factory=dict)
    #: connections opened at once by the swarm (the textbook Channels consumer exhausts
    #: redis-py's pool of 100 connections above ~30: MaxConnectionsError)
    connect_inflight: int = 200
    #: uvicorn's --ws of the references: the project runs with README's options instead
    #: (vendhub.cluster.UVICORN_OPTIONS: its light websocket protocol, realtime/server/
    #: engine/uvicorn_ws.py, without permessage-deflate).
    ws_protocol: str = "websockets-sansio"
    #: uvicorn worker processes on the one port (the kernel spreads the connections):
    #: every core of a host for websocket-only clients, without a load balancer
    workers: int = 1

    def server_proc(self, ctx, *, tag: str = "") -> Proc:
        port = free_port()
        env = {**ctx.server_env(self), **self.env}
        if self.server == "uvicorn":
            argv = [
                PYTHON,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(UVICORN_OPTIONS if self.kind == "project" else ["--ws", self.ws_protocol]),
                "--loop",
                ctx.server_loop,
                "--lifespan",
                "off",
                "--log-level",
                "warning",
                "--no-access-log",
                "--backlog",
                "4096",
                "--ws-ping-interval",
                "0",
            ]
            if self.workers > 1:
                argv += ["--workers", str(self.workers)]
        elif self.server == "daphne":
            argv = [
                PYTHON,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "-v",
                "0",
                "--ping-interval",
                "86400",
                self.app,
            ]
        elif self.server == "websockets":
            argv = [PYTHON, "-m", self.app, "--port", str(port), "--loop", ctx.server_loop]
        elif self.server == "node":
            argv = ["node", str(NODE_REFERENCE / self.app), "--port", str(port),
                    "--redis", ctx.redis_url, "--prefix", self.env["BENCH_PREFIX"]]
        else:
            raise ValueError(self.server)
        return Proc(f"{self.name}{tag}-server", argv, env=env, port=port)

    def rooms(self, ctx, user: dict) -> list[str]:
        """What one dashboard subscribes to: the live map plus its user and org rooms."""
        return ["machines:all", f"user:{user['user']}", f"org:{ctx.data['org']}"]

    def publisher_args(self, ctx, port: int) -> list[str]:
        mode = self.publisher_mode
        args = ["--mode", mode, "--machine", ctx.data["machines"][0]]
        if mode == "project":
            args += ["--room", f"map:{ctx.data['org']}"]
        elif mode == "channels":
            args += [
                "--room",
                "machines.all",
                "--redis",
                ctx.redis_url,
                "--prefix",
                self.env["BENCH_PREFIX"],
            ]
        elif mode == "sio":
            args += [
                "--room",
                "machines:all",
                "--redis",
                ctx.redis_url,
                "--prefix",
                self.env["BENCH_PREFIX"],
            ]
        elif mode == "ws":
            args += ["--port", str(port)]
        elif mode == "node":
            from .clients.publisher import telemetry_payload

            payload = telemetry_payload(ctx.data["machines"][0],
                                        [str(uuid.uuid4()) for _ in range(3)])
            args = ["--room", "machines:all", "--redis", ctx.redis_url,
                    "--prefix", self.env["BENCH_PREFIX"],
                    "--payload", orjson.dumps(payload).decode()]
        return args

    def publisher_argv(self, ctx, port: int) -> list[str]:
        if self.publisher_mode == "node":
            return ["node", str(NODE_REFERENCE / "publisher.js"), *self.publisher_args(ctx, port)]
        return [PYTHON, "-m", "bench.clients.publisher", *self.publisher_args(ctx, port)]


def all_targets(run_id: str) -> dict[str, Target]:
    project = Target(
        "project-uvicorn",
        "project",
        "uvicorn",
        "vendhub.asgi:application",
        "sio",
        SIO_PATH,
        "project",
        20,
    )
    targets = [
        project,
        replace(project, name="project-uvicorn-2proc", start_rate=40, workers=2),
        Target(
            "project-daphne",
            "project",
            "daphne",
            "vendhub.asgi:application",
            "sio",
            SIO_PATH,
            "project",
            10,
        ),
        Target(
            "ref-websockets",
            "reference",
            "websockets",
            "bench.refs.ws_broadcast",
            "raw",
            "/",
            "ws",
            40,
        ),
        Target(
            "ref-asgi-uvicorn",
            "reference",
            "uvicorn",
            "bench.refs.asgi_fanout:app",
            "raw",
            "/",
            "ws",
            40,
        ),
        Target(
            "ref-asgi-daphne",
            "reference",
            "daphne",
            "bench.refs.asgi_fanout:app",
            "raw",
            "/",
            "ws",
            10,
        ),
        Target(
            "ref-socketio",
            "reference",
            "uvicorn",
            "bench.refs.sio_server:app",
            "sio",
            SIO_PATH,
            "sio",
            4,
            env={"BENCH_PREFIX": f"bench-sio-{run_id}"},
        ),
        Target(
            "ref-channels",
            "reference",
            "uvicorn",
            "bench.refs.channels_textbook:application",
            "raw",
            "/",
            "channels",
            1,
            env={"BENCH_PREFIX": f"bench-ch-{run_id}"},
            connect_inflight=25,
        ),
        Target(
            "ref-node-socketio",
            "reference",
            "node",
            "server.js",
            "sio",
            SIO_PATH,
            "node",
            40,
            env={"BENCH_PREFIX": f"bench-node-{run_id}"},
        ),
    ]
    return {t.name: t for t in targets}
