"""bench/cluster_scale.py's pure parts: the balancer config of N processes (the shipped
deploy/haproxy.cfg with only N `server` lines, still valid for HAProxy) and the scaling
efficiency it reports."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.cluster_scale import haproxy_config, summarize
from tests.conftest import unavailable


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_the_balancer_config_of_n_processes_keeps_only_their_server_lines(tmp_path, processes):
    text = haproxy_config(tmp_path, processes).read_text()
    servers = [line.split()[1] for line in text.splitlines()
               if line.strip().startswith("server app")]
    assert servers == [f"app{i}" for i in range(1, processes + 1)]
    assert "balance roundrobin" in text  # the rest of the shipped config is kept


def test_the_balancer_config_of_one_process_is_valid_for_haproxy(tmp_path):
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if binary is None:
        unavailable("haproxy is not installed: `make bootstrap` installs it")
    # `-c` only parses: nothing is bound
    env = {"VENDHUB_BIND": "127.0.0.1:18000", "VENDHUB_APP1": "127.0.0.1:1",
           "VENDHUB_HEALTH_HOST": "127.0.0.1", "VENDHUB_STATS_BIND": "127.0.0.1:18001",
           "VENDHUB_STATS_SOCKET": str(tmp_path / "stats.sock")}
    checked = subprocess.run([binary, "-c", "-f", str(haproxy_config(tmp_path, 1))], env=env,
                             capture_output=True, text=True, timeout=20)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_scaling_efficiency_is_the_aggregate_over_n_times_one_process():
    results = summarize([{"processes": 1, "knee_fps": 20_000},
                         {"processes": 2, "knee_fps": 30_000},
                         {"processes": 3, "failed_step": "at 5/s: 3 connections dropped"}])
    assert [r.get("efficiency") for r in results] == [1.0, 0.75, None]
    assert [r.get("per_process_fps") for r in results] == [20_000, 15_000, None]


def test_without_a_one_process_knee_no_efficiency_is_claimed():
    results = summarize([{"processes": 1, "failed_step": "no knee"},
                         {"processes": 2, "knee_fps": 39_000}])
    assert "efficiency" not in results[1] and results[1]["per_process_fps"] == 19_500
