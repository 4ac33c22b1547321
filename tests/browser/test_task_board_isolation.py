"""A person who works for two organizations: one organization's manager, watching that
person's task board, never sees a card of the other organization, neither on load (REST)
nor live (the `tasks:{assigneeId}` room stands for the manager's organizations only)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from machines.models import Membership, Priority, Role, TaskKind, TaskStatus
from tests.browser.conftest import in_thread, screenshot
from tests.factories import make_task

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


def test_a_managers_board_shows_none_of_the_operators_other_organization(people, tasks, api_as,
                                                                          browser):
    # Playwright runs an event loop in this thread: the ORM runs in another (`in_thread`).
    in_thread(Membership.objects.create, user=people.operator, organization=people.rival,
              role=Role.OPERATOR)
    rival_task = in_thread(make_task, people.rival_machine, assignee=people.operator,
                           kind=TaskKind.REPAIR, title="Rival repair", priority=Priority.HIGH)
    rival_manager = api_as(people.stranger)
    acme_manager = api_as(people.manager)

    page = browser.signed_in(people.manager, f"/tasks/?operator={people.operator.pk}")
    page.wait_for_selector("#board[data-loaded=true]")
    page.wait_for_function(
        "(room) => window.vendhubRealtime.rooms[room] === 'subscribed'",
        arg=f"tasks:{people.operator.pk}")
    expect(page.locator(f'[data-task-id="{rival_task.id}"]')).to_have_count(0)
    shown = page.locator(".task-card").count()

    # Live: rival's manager moves the rival card and creates another; acme's board stays as
    # it is, while an acme change made after them does arrive.
    rival_manager.patch(f"/api/v1/tasks/{rival_task.id}/", {"status": TaskStatus.IN_PROGRESS})
    in_thread(make_task, people.rival_machine, assignee=people.operator, title="Rival clean")
    acme_manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": TaskStatus.DONE})
    expect(page.locator(f'[data-cards-for="done"] [data-task-id="{tasks["clean"].id}"]')
           ).to_be_visible()
    expect(page.locator(".task-card")).to_have_count(shown)
    expect(page.locator(".task-card", has_text="Rival")).to_have_count(0)
    screenshot(page, "tasks-manager-two-organization-operator")
