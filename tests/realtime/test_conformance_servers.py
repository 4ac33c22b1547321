"""`manage.py conformance_server --server daphne|uvicorn`: the protocol cases run under both
servers (the `conformance_server` fixture is parametrized over them), so this checks that
each run really had the server it names."""

from __future__ import annotations

from tests.realtime.conftest import wait_for_log

BANNERS = {"daphne": "Listening on TCP address", "uvicorn": "Uvicorn running on"}


def test_the_conformance_server_runs_under_the_server_it_was_asked_for(conformance_server):
    server = conformance_server.argv[conformance_server.argv.index("--server") + 1]
    log = wait_for_log(conformance_server, BANNERS[server])
    (other,) = set(BANNERS) - {server}
    assert BANNERS[other] not in log
    assert f"under {server}" in log
