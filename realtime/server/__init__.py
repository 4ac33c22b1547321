"""The generic layer of the gateway: a Socket.IO v5 / Engine.IO v4 server on Channels.

It knows sockets, rooms and frames, never what they mean: `protocol/` (the pure codec),
`engine/` (Engine.IO sessions, the consumers, the uvicorn websocket protocol), `sio/`
(Socket.IO connections, namespaces, connection state recovery), `hub` (per-process rooms
and fan-out over the channel layer), `history` (the recovery history), `coalescing`,
`batching`, `expiry`, `interning`, `registry`, `metrics`, `conf` (the server's settings),
`routing` (the ASGI endpoints), `serve` and `conformance` (the reference server's profile
that the official test suites drive).

What it must never import: the product modules of `realtime` (rooms, events, namespaces,
authentication, authorization, broadcast...) nor any app of the project (machines,
telemetry, notifications, sales, vendhub) or their models — tests/realtime/test_layers.py
fails on such an import. Dependencies point one way: the product uses this package.

What a product supplies: its namespaces (`sio.Namespace` subclasses, given to
`routing.socketio_server`), the hub it runs with — room → channel-layer group naming and the
events to coalesce (`coalescing.CoalescedEvent`) — registered once at startup with
`hub.set_hub_factory`, and its configuration (`settings.REALTIME`, read by `conf`).
"""
