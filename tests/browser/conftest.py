"""Fixtures of the browser tests: Debian's chromium driven by Playwright against the product
server (daphne + vendhub.asgi) on the test database, PostgreSQL and Redis.

Playwright's sync API runs an event loop in this thread while a browser is open, so Django
refuses ORM calls here then (SynchronousOnlyOperation). Tests do their database work before
the browser starts (fixtures) or through `in_thread`, never by allowing async-unsafe calls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from machines.models import MachineStatus, Priority, Role, TaskKind, TaskStatus
from tests.conftest import require_service, unavailable
from tests.factories import PASSWORD, make_machine, make_reading, make_task, make_user
from tests.live import ROOT, LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
#: Anything not served by the test server is blocked: there is no internet in CI, and the
#: pages must load nothing from a CDN. Map tiles are the one expected outside request.
_LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?/")

T = TypeVar("T")


def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` (ORM work) in a worker thread, outside Playwright's event loop, and close
    that thread's database connection afterwards."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        unavailable(f"Debian's chromium is not at {CHROMIUM}: run `make .stamp-chromium`")
    return CHROMIUM


@pytest.fixture(scope="session")
def dashboard_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """One product server for the session (it keeps no state between requests); each test
    still gets a fresh committed database through `transactional_db`."""
    require_service("REDIS_URL", "Redis")
    with LiveServer() as server:
        yield server


@pytest.fixture
def people(transactional_db, personas):
    """The personas of tests/factories.py, committed, so the server process sees them."""
    return personas


@dataclass
class Browser:
    """An open chromium plus what the pages did that the tests may want to check."""

    browser: Any
    server: LiveServer
    outside_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def new_page(self, *, viewport: dict | None = None, language: str = "en-US",
                 timezone_id: str | None = None):
        context = self.browser.new_context(
            viewport=viewport or DESKTOP, base_url=self.server.url, locale=language,
            timezone_id=timezone_id,
        )
        self.contexts.append(context)

        def block_outside(route) -> None:
            self.outside_requests.append(route.request.url)
            route.abort()

        context.route(lambda url: not _LOCAL.match(url), block_outside)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page

    def signed_in(self, user, path: str = "/map/", **page_options):
        """A new page, signed in through the login form as `user`, showing `path` live."""
        page = self.new_page(**page_options)
        login(page, user.username, next_path=path)
        wait_live(page)
        return page


def login(page, username: str, *, password: str = PASSWORD, next_path: str = "/map/") -> None:
    page.goto(f"/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def wait_live(page) -> None:
    """Until the socket is connected and every room of the page is subscribed."""
    page.wait_for_selector("#connection[data-state=live]")
    page.wait_for_function(
        """() => {
            const rt = window.vendhubRealtime;
            const states = rt ? Object.values(rt.rooms) : [];
            return states.length > 0 && states.every((s) => s === "subscribed");
        }"""
    )


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


@pytest.fixture
def browser(chromium_path, dashboard_server, people) -> Iterator[Browser]:
    """A headless chromium for one test. It depends on the database fixtures so that it is
    closed (and Playwright's loop stopped) before they tear down."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        session = Browser(chromium, dashboard_server)
        try:
            yield session
        finally:
            for context in session.contexts:
                context.close()
            chromium.close()
    assert not session.page_errors, f"JavaScript errors: {session.page_errors}"


class Api:
    """REST calls as one user, with a JWT (like any API client)."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def patch(self, path: str, data: dict) -> Any:
        response = self.client.patch(path, json=data)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def api_as(dashboard_server) -> Iterator[Callable[[Any], Api]]:
    """`api_as(user)`: a REST client authenticated as `user` (tokens minted before the
    browser starts, or through `in_thread`)."""
    from rest_framework_simplejwt.tokens import AccessToken

    clients: list[Api] = []

    def make(user) -> Api:
        client = Api(dashboard_server, str(AccessToken.for_user(user)))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.client.close()


# -- the fleet and the tasks of the dashboard tests ---------------------------------------------


@pytest.fixture
def fleet(people):
    """A few more Acme machines, one per status, around Tashkent; the rival's machine sits
    inside the same area, so the map would show it if it leaked."""
    statuses = [
        ("Chilonzor Cafe", MachineStatus.OFFLINE, "41.2850", "69.2040"),
        ("Yunusobod Coffee", MachineStatus.MAINTENANCE, "41.3650", "69.2870"),
        ("Mirobod Espresso", MachineStatus.ERROR, "41.2900", "69.2800"),
        ("Sergeli Snack", MachineStatus.ONLINE, "41.2270", "69.2200"),
    ]
    machines = [
        make_machine(people.acme, name=name, status=status, latitude=lat, longitude=lng)
        for name, status, lat, lng in statuses
    ]
    people.rival_machine.name = "Rival Secret Machine"
    people.rival_machine.latitude, people.rival_machine.longitude = "41.3100", "69.2500"
    people.rival_machine.save()
    people.machine.name = "Amir Temur Square"
    people.machine.last_seen_at = timezone.now() - timedelta(minutes=3)
    people.machine.save()
    make_reading(people.machine, temperature=22.4, humidity=41.0, uptime_seconds=86400 + 7200)
    return machines


@pytest.fixture
def device_key(people) -> str:
    from telemetry.device_keys import issue_device_key

    return issue_device_key(machine=people.machine, label="browser tests").plaintext


def earlier_today() -> datetime:
    """An hour ago, or halfway since midnight in the first hour of the day, in the browser's
    zone: chromium inherits TZ from this process, which Django sets to TIME_ZONE. The board's
    Done column shows the work of that day only; "an hour ago" alone fell on the day before
    between 00:00 and 01:00 in Tashkent (19:00-20:00 UTC) and the done card was missing."""
    now = datetime.now(ZoneInfo(settings.TIME_ZONE))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(hours=1), midnight + (now - midnight) / 2)


@pytest.fixture
def tasks(people, fleet):
    soon = datetime.now(UTC) + timedelta(hours=2)
    return {
        "refill": make_task(people.machine, assignee=people.operator, kind=TaskKind.REFILL,
                            title="Refill coffee", priority=Priority.HIGH, bunker=people.coffee,
                            due_at=soon),
        "clean": make_task(fleet[0], assignee=people.operator, kind=TaskKind.CLEANING,
                           title="Clean the brewer", priority=Priority.MEDIUM,
                           due_at=soon + timedelta(hours=3)),
        "collect": make_task(fleet[1], assignee=people.operator, kind=TaskKind.COLLECTION,
                             title="Collect cash", priority=Priority.LOW,
                             status=TaskStatus.IN_PROGRESS),
        "done": make_task(fleet[3], assignee=people.operator, kind=TaskKind.INSPECTION,
                          title="Inspect the cooler", status=TaskStatus.DONE,
                          completed_at=earlier_today()),
        "others": make_task(people.machine, assignee=None, kind=TaskKind.REPAIR,
                            title="Unassigned repair"),
    }


@pytest.fixture
def second_operator(people, fleet):
    """Another Acme operator (after the first in the manager's picker) with one task."""
    other = make_user("acme-operator-zz", organization=people.acme, role=Role.OPERATOR)
    task = make_task(fleet[2], assignee=other, kind=TaskKind.REPAIR, title="Fix the grinder",
                     priority=Priority.HIGH)
    return other, task
