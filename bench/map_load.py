"""The live map of a large fleet: `GET /api/v1/machines/?withLocation=true` (one unpaginated
list) and the /map/ page in headless chromium, for N located machines (20,000 by default).

    .venv/bin/python -m bench.map_load                 # seed (once), serve, measure
    .venv/bin/python -m bench.map_load --machines 5000 --runs 3

It uses its own database (`MAP_BENCH_DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/vendhub_bench_map) so that the harness's fleet stays as it
is, Redis database 13 under a `bench-map` prefix, and one daphne server (DEBUG on, so that
static files come from the finders as in development). Every step has a time limit. Results
go to bench/results/map-load-latest.{jsonl,md} (not to history.jsonl, which holds the
harness's runs), beside bench/results/map-load-baseline.json: the same command's result
before the map drew large fleets on a canvas (git 9c5096b, 20,000 DOM pins and list rows).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("MAP_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_map")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
ORG_SLUG = "bench-map"
MANAGER = "bench-map-manager"
PASSWORD = "bench-map-password"
PAGE_TIMEOUT_S = 180
BASELINE = RESULTS / "map-load-baseline.json"
# "Every marker shown": map.js sets #map[data-markers] in the frame after it added them, when
# the canvas has drawn them (large fleets) or the `.pin` elements are in the DOM (small ones).
# The baseline (before data-markers existed) counted `.pin` elements instead.
ALL_DRAWN = ("(n) => Number(document.getElementById('map').dataset.markers || 0) >= n"
             " || document.querySelectorAll('.pin').length >= n")


def seed(machines: int) -> dict:
    """Runs in a child process with Django set up: migrate, then make the fleet exactly
    `machines` located machines (one bunker each, every 20th low), once."""
    import random

    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from machines.models import (
        Bunker,
        Ingredient,
        Machine,
        MachineStatus,
        Membership,
        Organization,
        Role,
    )

    call_command("migrate", verbosity=0, interactive=False)
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench map"})
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username=MANAGER)
    if created:
        user.set_password(PASSWORD)
        user.save()
    Membership.objects.get_or_create(user=user, organization=org,
                                     defaults={"role": Role.MANAGER})
    if Machine.objects.filter(organization=org).count() != machines:
        Machine.objects.filter(organization=org).delete()
        rng = random.Random(13)
        statuses = [MachineStatus.ONLINE] * 8 + [MachineStatus.OFFLINE, MachineStatus.ERROR]
        Machine.objects.bulk_create([
            Machine(organization=org, serial_number=f"SN-MAP-{i:06d}", name=f"Map machine {i:06d}",
                    status=rng.choice(statuses),
                    latitude=f"{41.2 + rng.random() * 0.2:.6f}",
                    longitude=f"{69.1 + rng.random() * 0.3:.6f}")
            for i in range(machines)
        ], batch_size=5000)
        coffee, _ = Ingredient.objects.get_or_create(organization=org, name="Coffee")
        Bunker.objects.bulk_create([
            Bunker(machine_id=pk, ingredient=coffee, capacity_grams=1000,
                   current_level_grams=100 if n % 20 == 0 else 800)
            for n, pk in enumerate(Machine.objects.filter(organization=org)
                                   .order_by("serial_number").values_list("pk", flat=True))
        ], batch_size=5000)
    return {"token": str(AccessToken.for_user(user)), "machines": machines}


def server_env() -> dict:
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
            "CHANNEL_LAYER_PREFIX": "bench-map", "DEBUG": "1", "FAST_PASSWORD_HASHING": "1",
            "DJANGO_SETTINGS_MODULE": "vendhub.settings", "PYTHONUNBUFFERED": "1"}


def measure_rest(url: str, token: str, runs: int) -> dict:
    import httpx

    times, size, count = [], 0, 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        client.get("/api/v1/machines/", params={"page_size": 1}).raise_for_status()  # warm up
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get("/api/v1/machines/", params={"withLocation": "true"})
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            size, count = len(response.content), len(response.json())
            gz = len(gzip.compress(response.content, 6))
    return {"rest_ms_median": round(statistics.median(times) * 1000, 1),
            "rest_ms_min": round(min(times) * 1000, 1), "rest_bytes": size,
            "rest_gzip_bytes": gz, "markers": count, "runs": runs}


def measure_page(url: str, machines: int, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    loaded, drawn, heap, dom = [], [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1366, "height": 860})
                context.route(lambda u: not u.startswith(url), lambda route: route.abort())
                page = context.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
                page.goto(f"{url}/login/?next=/map/")
                page.fill("#id_username", MANAGER)
                page.fill("#id_password", PASSWORD)
                page.click("#login-form button[type=submit]")
                page.wait_for_url("**/map/")
                started = time.perf_counter()
                page.reload()
                page.wait_for_selector("#map[data-loaded=true]", state="attached")
                loaded.append(time.perf_counter() - started)
                page.wait_for_function(ALL_DRAWN, arg=machines)
                drawn.append(time.perf_counter() - started)
                heap.append(page.evaluate(
                    "performance.memory ? performance.memory.usedJSHeapSize : 0"))
                dom = page.evaluate("""() => ({
                    elements: document.getElementsByTagName('*').length,
                    list_rows: document.querySelectorAll('#machine-list .machine-item').length,
                    marker_kind: document.getElementById('map').dataset.markerKind || 'dom',
                })""")
                context.close()
        finally:
            browser.close()
    return {"page_loaded_s_median": round(statistics.median(loaded), 2),
            "page_all_markers_s_median": round(statistics.median(drawn), 2),
            "page_js_heap_mb": round(max(heap) / 2**20, 1), "page_runs": runs,
            "page_elements": dom.get("elements"), "page_list_rows": dom.get("list_rows"),
            "page_marker_kind": dom.get("marker_kind")}


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    line = json.dumps(result)
    (RESULTS / "map-load-latest.jsonl").write_text(line + "\n")
    r = result
    b = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if b.get("machines") != r["machines"]:
        b = {}  # a baseline of another fleet size compares nothing

    def row(label: str, key: str, unit: str = "", fmt=str) -> str:
        before = f"{fmt(b[key])}{unit}" if b.get(key) is not None else "—"
        after = f"{fmt(r[key])}{unit}" if r.get(key) is not None else "—"
        return f"| {label} | {before} | {after} |\n"

    (RESULTS / "map-load-latest.md").write_text(
        f"Map load ({r['started']}, git `{r['git']}`, {r['machines']:,} located machines, "
        f"one organization; daphne, DEBUG on, one process; 2-core machine shared with "
        f"other work). Before: the same command at git `{b.get('git', '—')}` "
        f"({b.get('started', '—')}), every machine a DOM pin and a list row.\n\n"
        "| measure | before | after |\n|---|---|---|\n"
        + row(f"`GET /api/v1/machines/?withLocation=true`, median of {r['runs']}",
              "rest_ms_median", " ms")
        + row("its body (JSON; the server does not compress)", "rest_bytes", " MB",
              lambda v: f"{v / 1e6:.2f}")
        + row(f"/map/ reload → map loaded (snapshot or REST), median of {r['page_runs']}",
              "page_loaded_s_median", " s")
        + row("/map/ reload → every marker shown", "page_all_markers_s_median", " s")
        + row("markers drawn as", "page_marker_kind")
        + row("list rows in the DOM", "page_list_rows")
        + row("elements in the page", "page_elements")
        + row("page JS heap after load", "page_js_heap_mb", " MB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--page-runs", type=int, default=2)
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        print(json.dumps(seed(args.machines)))
        return

    sys.path.insert(0, str(ROOT))
    from bench.fixtures import ensure_database
    from bench.serving import git_head, serving
    from tests.live import free_port

    ensure_database(DATABASE_URL)
    seeded = json.loads(subprocess.run(
        [sys.executable, "-m", "bench.map_load", "--seed-only", "--machines", str(args.machines)],
        cwd=ROOT, env=server_env(), capture_output=True, text=True, check=True, timeout=600,
    ).stdout.strip().splitlines()[-1])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "vendhub.asgi:application"]
    with serving(argv, env=server_env(), log_name="map-load-server.log",
                 probe=f"{url}/login/"):
        result = {"started": datetime.now(UTC).strftime("%Y%m%d-%H%M%S"), "git": git_head(),
                  "machines": args.machines,
                  **measure_rest(url, seeded["token"], args.runs),
                  **measure_page(url, args.machines, args.page_runs)}
    write(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
