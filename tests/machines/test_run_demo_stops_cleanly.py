"""Ctrl+C on `make run` stops the simulator before the server: no request is cut off in
flight, so no `RequestAborted` traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from telemetry.models import TelemetryReading
from tests.live import ROOT, LiveServer


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_the_simulator_first_and_prints_no_traceback(personas):
    server = LiveServer(argv=lambda port: [
        sys.executable, "manage.py", "run_demo", "--host", "127.0.0.1", "--port", str(port),
        "--machines", "0", "--interval", "0.05", "--watchdog-every", "60"])
    server.log_path.parent.mkdir(exist_ok=True)
    with open(server.log_path, "wb") as log:
        # A terminal's Ctrl+C signals its whole foreground process group: a session of its
        # own stands for the terminal.
        process = subprocess.Popen(server.argv, cwd=ROOT, env=server.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while TelemetryReading.objects.count() < 30:  # readings keep requests in flight
            assert time.monotonic() < deadline, server.log()
            assert process.poll() is None, server.log()
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(30) == 0, server.log()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = server.log()
    assert "RequestAborted" not in log and "Traceback" not in log, log
    assert "done:" in log  # the simulator's own summary: it stopped, not killed
