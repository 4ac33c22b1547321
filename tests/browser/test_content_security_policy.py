"""The pages work under the Content-Security-Policy the server sends (vendhub/settings.py):
chromium reports no violation on the dashboard, the admin and the API docs."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_live
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

#: Collects the page's CSP violations (the browser's `securitypolicyviolation` events).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def new_recording_page(browser):
    page = browser.new_page()
    page.context.add_init_script(RECORD_VIOLATIONS)
    return page


def violations(page) -> list[str]:
    return page.evaluate("window.cspViolations")


@pytest.fixture
def staff(people):
    return make_user("csp-admin", is_staff=True, is_superuser=True)


def test_the_dashboard_pages_run_without_policy_violations(people, browser):
    page = new_recording_page(browser)
    login(page, people.manager.username, next_path="/map/")
    wait_live(page)
    page.wait_for_selector(".leaflet-marker-pane .pin")
    assert violations(page) == []
    for path in ("/tasks/", f"/machines/{people.machine.pk}/"):
        page.goto(path)
        wait_live(page)
        assert violations(page) == [], path


def test_the_admin_runs_without_policy_violations(staff, browser):
    page = new_recording_page(browser)
    login(page, staff.username, next_path="/admin/")
    for path in ("/admin/", "/admin/machines/machine/", "/admin/machines/machine/add/",
                 "/admin/realtime/health/"):
        page.goto(path)
        page.wait_for_load_state("load")
        assert violations(page) == [], path


def test_the_api_docs_render_from_local_files_under_the_policy(people, browser):
    page = new_recording_page(browser)
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title:has-text('VendHub Realtime API')")
    page.wait_for_selector(".opblock-tag-section")  # the operations, from /api/v1/schema/
    assert violations(page) == []
    assert browser.outside_requests == []
