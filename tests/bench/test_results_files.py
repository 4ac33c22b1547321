"""The bench harness's records: history.jsonl keeps the latest runs only (it is committed),
and the READMEs show the latest complete run's goals table."""

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


def test_a_complete_run_puts_its_goals_table_in_each_readme_with_markers(tmp_path,
                                                                          monkeypatch):
    from types import SimpleNamespace

    from bench import report

    marked, unmarked = tmp_path / "marked.md", tmp_path / "unmarked.md"
    marked.write_text("intro\n<!-- latest-full:begin -->\nold\n<!-- latest-full:end -->\nrest\n")
    unmarked.write_text("no markers\n")
    monkeypatch.setattr(report, "READMES", (marked, unmarked, tmp_path / "missing.md"))
    md = "# run\n### Goals (project-uvicorn)\n\n| goal | met |\n\n### Fan-out\n..."
    ctx = SimpleNamespace(mode="full", partial=False, run_id="r9")
    report.update_readme(ctx, {"git": "0123456789abcdef", "elapsed_s": 400.0}, md)
    assert marked.read_text() == (
        "intro\n<!-- latest-full:begin -->\nLatest full run (r9, git `0123456789ab`, 400.0 s; "
        "all tables in `bench/results/full-latest.md`):\n\n| goal | met |\n"
        "<!-- latest-full:end -->\nrest\n")
    assert unmarked.read_text() == "no markers\n"
    report.update_readme(SimpleNamespace(mode="full", partial=True, run_id="r10"),
                         {"git": "f" * 16, "elapsed_s": 1.0}, md)
    assert "r9" in marked.read_text()  # a partial run changes nothing
