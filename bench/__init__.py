"""Benchmark harness: `python -m bench run --quick|--full [--scenario NAME]`.

Everything runs on 127.0.0.1, every loop is bounded in count and time, and every process
the harness starts is stopped by it. See README "Benchmarks".
"""
