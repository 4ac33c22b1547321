"""An operator walks a whole route on a 390 px phone (check in, fill, cash, check out at each
of three stops), losing the connection at the second stop: the actions wait in the page,
are sent in order when the phone is back, and the manager's routes page and live map
follow it live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from machines.models import Bunker
from operations.models import RouteStatus, Visit, VisitAction, VisitStatus
from sales.models import CashCollection
from tests.browser.conftest import PHONE, in_thread, screenshot
from tests.factories import make_bunker, make_machine
from tests.operations.visit_routes import make_route

pytestmark = pytest.mark.browser


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def route(people):
    def prepare():
        people.machine.name, people.machine.address = "Amir Temur Square", "Amir Temur Square 1"
        people.machine.save()
        second = make_machine(people.acme, name="Chorsu Bazaar", address="Chorsu 2",
                              latitude="41.326900", longitude="69.232600")
        make_bunker(second, "Coffee", capacity=1200, level=300)
        third = make_machine(people.acme, name="Tashkent City", address="Navoi 10",
                             latitude="41.315000", longitude="69.248000")
        make_bunker(third, "Tea", capacity=800, level=100)
        return make_route(people.acme, people.operator, [people.machine, second, third])

    return in_thread(prepare)


def stop(phone, visit_id: str):
    return phone.locator(f'#route-stops li[data-visit-id="{visit_id}"]')


def walk_stop(phone, visit_id: str, amount: int) -> None:
    """Check in, record the planned fills, the cash, and check out at the next stop."""
    card = phone.locator(f'#next-stop[data-visit-id="{visit_id}"]')
    expect(card).to_be_visible()
    phone.click("#check-in")
    expect(card).to_have_class("next-stop is-checked-in")
    phone.click("#record-fills")
    phone.fill("#cash-amount", str(amount))
    phone.click("#cash-form button[type=submit]")
    phone.click("#check-out")
    expect(stop(phone, visit_id)).to_have_attribute("data-status", "done")


def test_an_operator_walks_a_route_offline_in_the_middle_and_the_manager_follows(
        people, browser, route):
    visits = in_thread(lambda: [str(pk) for pk in route.visits.order_by("sequence")
                                .values_list("pk", flat=True)])
    manager = browser.signed_in(people.manager, "/routes/")
    for visit_id in visits:
        expect(manager.locator(f'[data-visit-id="{visit_id}"]')).to_have_attribute(
            "data-status", "planned")
    # The manager's live map follows the route too (its Routes layer).
    live_map = browser.signed_in(people.manager, "/map/")
    live_map.check("#map-routes-toggle")
    expect(live_map.locator("#map")).to_have_attribute("data-routes", "1")

    phone = browser.signed_in(people.operator, "/route/", viewport=PHONE)
    # What the phone sent and was answered, for the failure message below.
    sent: list[str] = []
    phone.on("response", lambda r: sent.append(f"{r.request.post_data} -> {r.status}")
             if "/actions/" in r.url else None)
    phone.on("console", lambda m: sent.append(f"console {m.type}: {m.text}"))
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"latitude": 41.2995, "longitude": 69.2401})
    phone.wait_for_selector("#route-page[data-loaded=true]")
    expect(phone.locator("a.nav-link[href='/route/']")).to_be_visible()
    expect(phone.locator("#route-progress")).to_have_text("0 of 3 done")
    expect(phone.locator("#stop-machine")).to_have_text("Amir Temur Square")
    expect(phone.locator("#stop-address")).to_have_text("Amir Temur Square 1")
    expect(phone.locator("#stop-navigate")).to_have_attribute(
        "href", "https://www.google.com/maps/search/?api=1&query=41.2995,69.2401")
    # What to bring, the inputs pre-filled with the plan: coffee 1000-800, milk 2000-1500.
    expect(phone.locator("#stop-lines input")).to_have_count(2)
    assert phone.locator("#stop-lines input").evaluate_all(
        "inputs => inputs.map((i) => i.value)") == ["200", "500"]
    assert no_horizontal_scroll(phone)
    screenshot(phone, "operator-route-next-stop")

    # Stop 1, online: the manager sees it done live.
    walk_stop(phone, visits[0], 150000)
    expect(phone.locator("#route-queue")).to_be_hidden()
    expect(manager.locator(f'[data-visit-id="{visits[0]}"]')).to_have_attribute(
        "data-status", "done")
    expect(live_map.locator(f'.route-stop-icon[data-visit-id="{visits[0]}"]')).to_have_class(
        "route-stop-icon stop-done")

    # Stop 2, offline: the actions wait in the page, their effect shown at once.
    phone.context.set_offline(True)
    walk_stop(phone, visits[1], 90000)
    expect(phone.locator("#route-queue")).to_have_text("waiting to send (4)")
    expect(phone.locator("#route-progress")).to_have_text("2 of 3 done")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "operator-route-offline-queue")
    assert in_thread(lambda: Visit.objects.get(pk=visits[1]).status) == VisitStatus.PLANNED

    # Back online: the queue drains in order and the manager's page follows.
    phone.context.set_offline(False)
    expect(phone.locator("#route-queue")).to_be_hidden(timeout=20_000)
    expect(manager.locator(f'[data-visit-id="{visits[1]}"]')).to_have_attribute(
        "data-status", "done", timeout=20_000)

    # Stop 3, online again; the route is done.
    walk_stop(phone, visits[2], 40000)
    expect(phone.locator("#route-progress")).to_have_text("3 of 3 done")
    expect(phone.locator("#next-stop")).to_be_hidden()
    expect(manager.locator(f'[data-visit-id="{visits[2]}"]')).to_have_attribute(
        "data-status", "done")
    expect(live_map.locator(".route-stop-icon.stop-done")).to_have_count(3)
    screenshot(phone, "operator-route-done")

    def outcome():
        route.refresh_from_db()
        return {
            "route": route.status,
            "visits": list(route.visits.order_by("sequence").values_list("status", flat=True)),
            "actions": VisitAction.objects.filter(visit__route=route).count(),
            "cash": sorted(CashCollection.objects.values_list("amount", flat=True)),
            "levels": {b.machine.name: b.current_level_grams for b in Bunker.objects.filter(
                machine__visits__route=route).select_related("machine")
                if b.ingredient.name != "Milk powder"},
            "located": Visit.objects.get(pk=visits[0]).check_in_latitude is not None,
        }

    assert in_thread(outcome) == {
        "route": RouteStatus.DONE, "visits": [VisitStatus.DONE] * 3, "actions": 12,
        "cash": [40000, 90000, 150000],
        "levels": {"Amir Temur Square": 1000, "Chorsu Bazaar": 1200, "Tashkent City": 800},
        "located": True,
    }
