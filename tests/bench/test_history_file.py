"""bench/results/history.jsonl keeps the latest runs only (it is committed)."""

from __future__ import annotations

import orjson

from bench.report import append_history


def rows(run_id: str, count: int = 2) -> list[dict]:
    return [{"scenario": "fanout", "run_id": run_id, "n": n} for n in range(count)]


def test_a_run_is_appended_whole_and_the_oldest_runs_are_dropped(tmp_path):
    path = tmp_path / "history.jsonl"
    for run in ("r1", "r2", "r3"):
        append_history(path, rows(run), keep_runs=2)
    kept = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(row["run_id"], row["n"]) for row in kept] == [
        ("r2", 0), ("r2", 1), ("r3", 0), ("r3", 1)]


def test_the_first_run_creates_the_file(tmp_path):
    path = tmp_path / "history.jsonl"
    append_history(path, rows("only", 1))
    assert orjson.loads(path.read_bytes()) == {"scenario": "fanout", "run_id": "only", "n": 0}
