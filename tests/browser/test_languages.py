"""The dashboard in Russian and Uzbek, server-written text included: a low-bunker
notification the server wrote reads in the page's language in the bell."""

from __future__ import annotations

import pytest

from notifications import services
from tests.browser.conftest import in_thread, screenshot

pytestmark = pytest.mark.browser

CASES = [
    ("ru", "ru-RU", "Мало Coffee: VH-Chilonzor", "Уведомления", "Время указано по"),
    ("uz", "uz-UZ", "VH-Chilonzor: Coffee kam qoldi", "Bildirishnomalar", "Vaqtlar"),
]


@pytest.mark.parametrize(("language", "locale", "title", "bell", "times"), CASES)
def test_the_dashboard_reads_server_written_text_in_its_language(
        browser, people, language, locale, title, bell, times):
    def notify() -> None:
        services.notify(
            recipients=[people.manager], organization_id=people.acme.pk, machine=people.machine,
            title_key="bunker_low.title", message_key="bunker_low.message",
            params={"ingredient": "Coffee", "machine": "VH-Chilonzor", "level": 100,
                    "capacity": 1000, "threshold": 20},
            type="warning", priority="high")

    in_thread(notify)
    page = browser.signed_in(people.manager, "/tasks/", language=locale)
    assert page.locator("html").get_attribute("lang") == language
    page.click("#bell-button")
    page.wait_for_selector(f"#notification-list >> text={title}")
    assert bell in page.locator("#notification-panel").inner_text()
    assert times in page.locator("#time-zone-note").inner_text()
    screenshot(page, f"languages-{language}-tasks")
