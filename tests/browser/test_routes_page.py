"""The routes page and the map's Routes layer in headless chromium: a manager sees one
column per operator, drags a stop to the other operator and both columns show the answer;
a route changed elsewhere (another manager's move) updates the open page live; the live
map draws today's routes as lines when its Routes control is switched on; the pick list
opens from a column and prints without the header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from operations.models import Visit
from sales.ingest import sales_day
from tests.browser.conftest import PHONE, in_thread, login, screenshot
from tests.factories import make_machine, make_machine_error
from tests.operations.routes_data import acme_routes

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def routes(people):
    """Two acme operators with two stops each, today in acme's zone (the map shows today)."""
    data = acme_routes(people, day=sales_day(datetime.now(UTC), people.acme.time_zone))
    # Read before the browser starts (no ORM inside Playwright's loop).
    data["first_visits"] = list(data["first"].visits.order_by("sequence"))
    return data


def column(page, operator):
    return page.locator(f'.route-column[data-operator-id="{operator.pk}"]')


def stops(page, operator):
    return column(page, operator).locator(".stop-card")


def test_a_manager_drags_a_stop_to_another_operator(people, routes, browser):
    second = routes["second_operator"]
    page = browser.signed_in(people.manager, "/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    expect(page.locator(".route-column")).to_have_count(2)
    expect(stops(page, people.operator)).to_have_count(2)
    expect(stops(page, second)).to_have_count(2)
    first_card = stops(page, people.operator).first
    expect(first_card.locator(".stop-machine")).to_have_text(people.machine.name)
    expect(first_card.locator(".stop-bring")).to_contain_text("Coffee 500 g")
    assert "Rival" not in page.content()
    screenshot(page, "routes-page")

    moving = routes["first_visits"][1]
    stops(page, people.operator).nth(1).drag_to(column(page, second))
    expect(stops(page, people.operator)).to_have_count(1)
    expect(stops(page, second)).to_have_count(3)
    expect(column(page, second).locator(f'[data-visit-id="{moving.pk}"]')).to_be_visible()
    expect(column(page, second).locator(".route-summary")).to_contain_text("3")
    stored = in_thread(lambda: Visit.objects.get(pk=moving.pk))
    assert stored.route_id == routes["second"].pk and stored.pinned
    screenshot(page, "routes-page-after-move")


def test_a_move_made_elsewhere_updates_the_open_page(people, routes, api_as, browser):
    second = routes["second_operator"]
    manager = api_as(people.manager)
    page = browser.signed_in(people.manager, "/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    expect(stops(page, second)).to_have_count(2)
    moving = routes["first_visits"][0]
    response = manager.client.post(f"/api/v1/visits/{moving.pk}/move/",
                                   json={"operatorId": second.pk})
    assert response.status_code == 200, response.text
    expect(stops(page, second)).to_have_count(3)
    expect(stops(page, people.operator)).to_have_count(1)


def test_a_refused_move_says_why_and_changes_nothing(people, routes, browser):
    # The operator is at the machine: the stop cannot be dragged away.
    at_machine = routes["first_visits"][0]
    in_thread(lambda: Visit.objects.filter(pk=at_machine.pk).update(status="checked_in"))
    page = browser.signed_in(people.manager, "/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    card = page.locator(f'[data-visit-id="{at_machine.pk}"]')
    expect(card).to_have_attribute("draggable", "false")
    expect(card).to_have_attribute("data-status", "checked_in")


def test_the_map_draws_todays_routes_when_switched_on(people, routes, browser):
    page = browser.signed_in(people.manager, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    expect(page.locator("path.route-line")).to_have_count(0)  # off until asked for
    page.check("#map-routes-toggle")
    expect(page.locator("#map")).to_have_attribute("data-routes", "2")
    expect(page.locator("path.route-line")).to_have_count(2)
    expect(page.locator(".route-stop-icon")).to_have_count(4)
    colours = {page.locator("path.route-line").nth(i).get_attribute("stroke") for i in (0, 1)}
    assert len(colours) == 2  # one colour per operator
    screenshot(page, "map-routes")

    # A visit done at the first stop greys it, live.
    done = routes["first_visits"][0]

    def finish() -> None:
        from operations.events import emit_route_updated
        from operations.models import Route
        from operations.selectors import with_route_details

        Visit.objects.filter(pk=done.pk).update(status="done")
        emit_route_updated(with_route_details(Route.objects.filter(pk=routes["first"].pk))
                           .get())

    in_thread(finish)
    expect(page.locator(f'.route-stop-icon[data-visit-id="{done.pk}"]')).to_have_class(
        "route-stop-icon stop-done")
    page.uncheck("#map-routes-toggle")
    expect(page.locator("path.route-line")).to_have_count(0)


def test_the_operator_opens_their_pick_list_on_a_phone(people, routes, browser):
    page = browser.signed_in(people.operator, f"/routes/{routes['first'].pk}/pick-list/",
                             viewport=PHONE)
    expect(page.locator("#pick-totals tbody tr")).to_have_count(2)
    expect(page.locator(".pick-stop")).to_have_count(2)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # nothing wider than the phone
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("[data-print]")).to_be_hidden()
    screenshot(page, "pick-list-print", full_page=True)


def test_plan_the_day_redraws_the_columns_and_lists_what_it_left_out(people, routes,
                                                                       browser):
    # A machine with an open critical error but no coordinates: it needs a visit, and
    # the plan can only report it.
    lost = in_thread(lambda: make_machine(people.acme, name="Nowhere Kiosk", latitude=None,
                                          longitude=None))
    in_thread(lambda: make_machine_error(lost, severity="critical"))
    page = browser.signed_in(people.manager, "/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    page.click("#routes-plan")
    page.wait_for_selector("#routes[data-plans='1']")
    expect(page.locator(".route-column")).to_have_count(2)
    expect(page.locator(f'#routes-unassigned-list [data-machine-id="{lost.pk}"]')
           ).to_contain_text("Nowhere Kiosk")
    expect(page.locator("#routes-unassigned")).to_be_visible()


def test_a_stop_moves_to_another_day_from_its_menu_or_a_day_chip(people, routes, browser):
    page = browser.signed_in(people.manager, "/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    first, second = routes["first_visits"]
    tomorrow = page.locator(".route-day").nth(1).get_attribute("data-date")
    # Without a mouse: the card's "Move to…" menu.
    page.locator(f'[data-visit-id="{first.pk}"] .stop-move').select_option(f"date:{tomorrow}")
    expect(stops(page, people.operator)).to_have_count(1)
    # With one: dropped on the day's chip.
    page.locator(f'[data-visit-id="{second.pk}"]').drag_to(page.locator(".route-day").nth(1))
    expect(stops(page, people.operator)).to_have_count(0)
    page.locator(".route-day").nth(1).click()
    page.wait_for_selector("#routes[data-loaded=true]")
    expect(stops(page, people.operator)).to_have_count(2)
    moved = in_thread(lambda: sorted(str(d) for d in Visit.objects.filter(
        pk__in=[first.pk, second.pk]).values_list("route__date", flat=True)))
    assert moved == [tomorrow, tomorrow]


def test_the_routes_page_map_layer_and_pick_list_keep_the_content_security_policy(
        people, routes, browser):
    from tests.browser.test_content_security_policy import new_recording_page, violations

    page = new_recording_page(browser)
    login(page, people.manager.username, next_path="/routes/")
    page.wait_for_selector("#routes[data-loaded=true]")
    assert violations(page) == []
    page.goto("/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    page.check("#map-routes-toggle")
    expect(page.locator(".route-stop-icon")).to_have_count(4)
    assert violations(page) == []  # the stops' colours go through the CSSOM
    page.goto(f"/routes/{routes['first'].pk}/pick-list/")
    page.wait_for_selector("#pick-list")
    assert violations(page) == []
