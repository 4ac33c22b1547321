"""Texts the server writes are stored as a key and parameters and read in the reader's
language: REST (Accept-Language), the recipient's socket events, the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from notifications import messages, services
from notifications.models import LanguagePreference, Notification
from realtime.events import NOTIFICATION
from realtime.rooms import user_room
from tests.conftest import client_for
from tests.factories import make_notification
from tests.telemetry.conftest import device, device_key, reading_body, sent  # noqa: F401

pytestmark = pytest.mark.django_db

User = get_user_model()


def run_coffee_low(device, personas):  # noqa: F811
    response = device.post("/api/v1/telemetry/",
                           reading_body(personas.machine, bunkers={personas.coffee: 100}),
                           format="json")
    assert response.status_code == 201, response.content


def titles_in(user, language: str) -> list[tuple[str, str]]:
    body = client_for(user).get("/api/v1/notifications/",
                                HTTP_ACCEPT_LANGUAGE=language).json()
    return [(row["title"], row["message"]) for row in body["results"]]


def test_a_low_bunker_notification_is_stored_as_a_key_with_its_parameters(personas, device):  # noqa: F811
    run_coffee_low(device, personas)
    notification = Notification.objects.get(recipient=personas.manager)
    assert notification.title_key == "bunker_low.title"
    assert notification.message_key == "bunker_low.message"
    assert notification.params == {"ingredient": "Coffee", "machine": personas.machine.name,
                                   "level": 100, "capacity": 1000, "threshold": 20}
    # The default language's text is kept beside the key (search, exports).
    assert notification.title == f"Low Coffee at {personas.machine.name}"


def test_a_low_bunker_notification_reads_in_the_requests_language(personas, device):  # noqa: F811
    run_coffee_low(device, personas)
    name = personas.machine.name
    assert titles_in(personas.manager, "ru") == [
        (f"Мало Coffee: {name}", "Осталось 100 г из 1000 г (ниже 20%).")]
    assert titles_in(personas.manager, "uz") == [
        (f"{name}: Coffee kam qoldi", "1000 g dan 100 g qoldi (20% dan past).")]
    assert titles_in(personas.manager, "en") == [
        (f"Low Coffee at {name}", "100 g of 1000 g left (under 20%).")]


def test_the_refill_task_title_is_written_in_the_default_language(personas, device):  # noqa: F811
    run_coffee_low(device, personas)
    task = personas.coffee.tasks.get()
    assert task.title == f"Refill Coffee at {personas.machine.name}"


def test_the_notification_event_is_in_the_recipients_language(personas, device, sent):  # noqa: F811
    services.set_language(user=personas.manager, language="ru")
    with sent.capture():
        run_coffee_low(device, personas)
    [event] = sent.of(NOTIFICATION, user_room(personas.manager.pk))
    assert event["title"] == f"Мало Coffee: {personas.machine.name}"
    assert event["message"] == "Осталось 100 г из 1000 г (ниже 20%)."


def test_without_a_preference_the_event_is_in_the_sites_language(personas, device, sent):  # noqa: F811
    with sent.capture():
        run_coffee_low(device, personas)
    [event] = sent.of(NOTIFICATION, user_room(personas.manager.pk))
    assert event["title"] == f"Low Coffee at {personas.machine.name}"


def test_the_language_switcher_remembers_a_signed_in_persons_language(personas):
    browser = Client()
    browser.force_login(personas.manager)
    response = browser.post("/i18n/setlang/", {"language": "uz", "next": "/tasks/"})
    assert response.status_code == 302
    assert LanguagePreference.objects.get(user=personas.manager).language == "uz"
    browser.post("/i18n/setlang/", {"language": "klingon", "next": "/tasks/"})
    assert LanguagePreference.objects.get(user=personas.manager).language == "uz"


def test_the_admin_in_russian_shows_russian_notification_titles(personas):
    boss = User.objects.create_superuser("boss", password="x")
    services.notify(recipients=[boss], organization_id=personas.acme.pk,
                    machine=personas.machine, title_key="offline.title",
                    message_key="offline.never", params={"machine": "VH-7", "interval": 60},
                    type="warning", priority="high")
    admin = Client()
    admin.force_login(boss)
    page = admin.get("/admin/notifications/notification/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200
    assert "VH-7 не в сети" in page.content.decode()
    page = admin.get("/admin/notifications/notification/", HTTP_ACCEPT_LANGUAGE="uz")
    assert "VH-7 tarmoqda emas" in page.content.decode()


def test_a_notification_a_person_wrote_reads_as_written(personas):
    make_notification(personas.manager, personas.acme, title="Kofe tugadi", message="Zudlik bilan")
    assert titles_in(personas.manager, "ru") == [("Kofe tugadi", "Zudlik bilan")]


def test_a_translation_that_does_not_fit_its_parameters_falls_back_to_english():
    assert messages.render("too_hot.title", {"machine": "A"}, language="uz") == "Juda issiq: A"
    assert messages.render("too_hot.message", {"value": "x"}, language="ru") == (
        "%(value).1f °C, above the %(limit).1f °C limit.")
    assert messages.render("no.such.key", {}) == ""


def test_every_key_is_translated_into_every_language():
    for key, english in messages.MESSAGES.items():
        for language in ("ru", "uz"):
            if "%(machine)s: %(code)s" == english:
                continue  # names and codes only: the same in every language
            assert messages.render(key, _sample_params(), language=language) != (
                messages.render(key, _sample_params(), language="en")), (key, language)


def _sample_params() -> dict:
    return {"ingredient": "Coffee", "machine": "M", "level": 1, "capacity": 2, "threshold": 3,
            "value": 31.0, "limit": 30.0, "code": "E", "silent": "0:10:00", "interval": 60,
            "task": "T", "actor": "A", "usual": "40 min", "minutes": 10, "hours": 3,
            "days": 2, "expected": 500_000, "counted": 490_000, "difference": -10_000,
            "operator": "O", "filled": 2000}
