"""A refill task opened by a low reading is stored as what happened (a key and parameters)
and read in the reader's language: REST (Accept-Language), the admin's, the board's socket
room (its assignee's); a task a person wrote keeps their words for everyone."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from machines import services
from machines.models import Task, TaskKind
from notifications.services import set_language
from realtime.events import TASK_UPDATED, TaskUpdatedEvent
from realtime.rooms import organization_room, tasks_room
from tests.conftest import client_for
from tests.factories import make_task
from tests.realtime.test_events import assert_matches
from tests.telemetry.conftest import device, device_key, reading_body, sent  # noqa: F401

pytestmark = pytest.mark.django_db

User = get_user_model()


def run_coffee_low(device, personas) -> Task:  # noqa: F811
    response = device.post("/api/v1/telemetry/",
                           reading_body(personas.machine, bunkers={personas.coffee: 100}),
                           format="json")
    assert response.status_code == 201, response.content
    return Task.objects.get(kind=TaskKind.REFILL, bunker=personas.coffee)


def read(user, task: Task, language: str) -> dict:
    response = client_for(user).get(f"/api/v1/tasks/{task.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_refill_task_opened_by_a_low_reading_is_stored_keyed(personas, device):  # noqa: F811
    task = run_coffee_low(device, personas)
    assert (task.title_key, task.notes_key) == ("refill.title", "refill.notes")
    assert task.params == {"ingredient": "Coffee", "machine": personas.machine.name,
                           "level": 100, "capacity": 1000, "threshold": 20}
    assert task.title == f"Refill Coffee at {personas.machine.name}"


def test_a_refill_task_reads_in_russian_and_uzbek_over_rest(personas, device):  # noqa: F811
    task = run_coffee_low(device, personas)
    name = personas.machine.name
    ru = read(personas.manager, task, "ru")
    assert (ru["title"], ru["notes"], ru["textLanguage"]) == (
        f"Пополнить Coffee: {name}", "Осталось 100 г из 1000 г, ниже порога 20%.", "ru")
    uz = read(personas.operator, task, "uz")
    assert (uz["title"], uz["notes"], uz["textLanguage"]) == (
        f"{name}: Coffee toʻldirilsin", "1000 g dan 100 g qoldi, 20% chegarasidan past.", "uz")
    en = read(personas.manager, task, "en")
    assert en["title"] == f"Refill Coffee at {name}"


def test_a_task_a_person_wrote_reads_as_written_in_every_language(personas):
    task = make_task(personas.machine, assignee=personas.operator, title="Wipe the glass",
                     notes="Use the blue cloth")
    for language in ("ru", "uz", "en"):
        body = read(personas.manager, task, language)
        assert (body["title"], body["notes"], body["textLanguage"]) == (
            "Wipe the glass", "Use the blue cloth", None)


def test_a_manager_who_rewrites_the_title_makes_it_theirs(personas, device):  # noqa: F811
    task = run_coffee_low(device, personas)
    services.update_task(task=task, actor=personas.manager, title="Bring two bags")
    task.refresh_from_db()
    assert (task.title_key, task.notes_key) == ("", "refill.notes")
    body = read(personas.manager, task, "ru")
    assert body["title"] == "Bring two bags"
    assert body["notes"] == "Осталось 100 г из 1000 г, ниже порога 20%."


def test_the_board_event_is_in_the_assignees_language_and_the_orgs_in_the_default(
        personas, device, sent):  # noqa: F811
    set_language(user=personas.operator, language="uz")
    with sent.capture():
        task = run_coffee_low(device, personas)
    name = personas.machine.name
    [board] = sent.of(TASK_UPDATED, tasks_room(personas.operator.pk, personas.acme.pk))
    [org] = sent.of(TASK_UPDATED, organization_room(personas.acme.pk))
    assert (board["title"], board["textLanguage"]) == (f"{name}: Coffee toʻldirilsin", "uz")
    assert (org["title"], org["textLanguage"]) == (f"Refill Coffee at {name}", "en")
    assert board["id"] == org["id"] == str(task.pk)
    for payload in (board, org):
        assert_matches(payload, TaskUpdatedEvent)


def test_the_admin_shows_a_refill_task_in_the_admins_language(personas, device):  # noqa: F811
    task = run_coffee_low(device, personas)
    browser = Client()
    browser.force_login(User.objects.create_superuser("boss", password="x"))
    listing = browser.get("/admin/machines/task/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert f"Пополнить Coffee: {personas.machine.name}" in listing
    form = browser.get(f"/admin/machines/task/{task.pk}/change/",
                       HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Осталось 100 г из 1000 г, ниже порога 20%." in form


def test_saving_a_refill_task_unchanged_in_the_admin_keeps_it_keyed(personas, device):  # noqa: F811
    task = run_coffee_low(device, personas)
    browser = Client()
    browser.force_login(User.objects.create_superuser("boss", password="x"))
    url = f"/admin/machines/task/{task.pk}/change/"
    form = {"machine": str(task.machine_id), "bunker": str(task.bunker_id), "kind": task.kind,
            "title": task.title_text("uz"), "notes": task.notes_text("uz"),
            "assignee": str(task.assignee_id), "status": task.status,
            "priority": task.priority, "due_at_0": "", "due_at_1": ""}
    response = browser.post(url, form, HTTP_ACCEPT_LANGUAGE="uz")
    assert response.status_code == 302, response.content.decode()[:2000]
    task.refresh_from_db()
    assert (task.title_key, task.title) == ("refill.title",
                                            f"Refill Coffee at {personas.machine.name}")
    form["title"] = "Ikki qop olib keling"
    assert browser.post(url, form, HTTP_ACCEPT_LANGUAGE="uz").status_code == 302
    task.refresh_from_db()
    assert (task.title_key, task.title, task.notes_key) == (
        "", "Ikki qop olib keling", "refill.notes")


def test_refill_tasks_stored_in_english_before_keys_are_keyed_by_the_migration(personas):
    from django.apps import apps

    migration = importlib.import_module("machines.migrations.0004_task_keyed_texts")
    name = personas.machine.name
    old = make_task(personas.machine, kind=TaskKind.REFILL, bunker=personas.coffee,
                    title=f"Refill Coffee at {name}",
                    notes="120 g of 1000 g left, under the 20% threshold.")
    renamed = make_task(personas.machine, kind=TaskKind.REFILL, bunker=personas.coffee,
                        status="done", title="Coffee, two bags")
    migration.key_server_written_refill_tasks(apps, None)
    old.refresh_from_db()
    renamed.refresh_from_db()
    assert (old.title_key, old.notes_key) == ("refill.title", "refill.notes")
    assert old.notes_text("ru") == "Осталось 120 г из 1000 г, ниже порога 20%."
    assert renamed.title_key == ""
