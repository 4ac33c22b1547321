"""A device's first reading after a recorded refill confirms or contradicts it: filled 2 kg,
the machine reports 200 g, and the managers and the operator hear of it, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Role
from notifications.models import Notification
from operations.fill_checks import dedup_key
from operations.models import VisitLine
from operations.rules_visits import RecordedFill, fill_contradicted
from telemetry.rules import Reading
from telemetry.services import ingest_telemetry
from tests.factories import make_bunker, make_user
from tests.operations.test_visit_actions import check_in, post
from tests.operations.visit_routes import make_route

AT = timezone.now()


def fill(quantity=2000, capacity=3000, minutes_ago=0):
    return RecordedFill(AT - timedelta(minutes=minutes_ago), quantity, capacity)


@pytest.mark.parametrize(("recorded", "level", "after", "expected"), [
    (fill(), 200, timedelta(minutes=10), True),  # the example
    (fill(), 999, timedelta(minutes=10), True),  # under half of 2,000 g
    (fill(), 1000, timedelta(minutes=10), False),  # half: consistent enough
    (fill(), 2500, timedelta(minutes=10), False),
    (fill(quantity=499), 0, timedelta(minutes=10), False),  # too small to judge
    (fill(quantity=500), 0, timedelta(minutes=10), True),
    (fill(quantity=2000, capacity=600), 250, timedelta(minutes=10), True),  # capped at 600
    (fill(quantity=2000, capacity=600), 300, timedelta(minutes=10), False),
    (fill(), 200, timedelta(hours=2), True),  # the window's last moment
    (fill(), 200, timedelta(hours=2, seconds=1), False),  # too late: sold since
    (fill(), 200, timedelta(0), False),  # not after the fill
    (fill(), 200, -timedelta(minutes=1), False),  # a reading from before the fill
])
def test_the_rule(recorded, level, after, expected):
    assert fill_contradicted(fill=recorded, reported_level=level,
                             reported_at=recorded.filled_at + after) is expected


@pytest.fixture
def filled(personas):
    """A sugar bunker of 3 kg with 2 kg recorded poured in at a visit of the operator."""
    bunker = make_bunker(personas.machine, "Sugar", capacity=3000, level=100)
    route = make_route(personas.acme, personas.operator, [personas.machine])
    visit = route.visits.get()
    check_in(personas.operator, visit)
    line = visit.lines.get(bunker=bunker)
    response = post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                                  "filledQuantity": 2000}]})
    assert response.status_code == 201, response.data
    line.refresh_from_db()
    return bunker, line


def report(machine, bunker, level, *, after: timedelta, line: VisitLine, capture):
    reading = Reading(timestamp=line.updated_at + after, status="online",
                      bunker_levels={str(bunker.pk): level})
    with capture(execute=True):
        ingest_telemetry(machine=machine, readings=[reading])


def contradiction_notices():
    return Notification.objects.filter(title_key="fill_contradicted.title")


def test_a_reading_far_below_the_fill_notifies_managers_and_the_operator_once(
        personas, filled, django_capture_on_commit_callbacks):
    bunker, line = filled
    report(personas.machine, bunker, 200, after=timedelta(minutes=5), line=line,
           capture=django_capture_on_commit_callbacks)
    notices = contradiction_notices()
    assert {n.recipient for n in notices} == {personas.manager, personas.operator}
    notice = notices.get(recipient=personas.manager)
    assert notice.dedup_key == dedup_key(line.pk)
    assert notice.params["filled"] == 2000 and notice.params["level"] == 200
    assert "2000 g" in notice.message and "200 g" in notice.message
    # The next readings see the same fill: no second notification.
    report(personas.machine, bunker, 150, after=timedelta(minutes=10), line=line,
           capture=django_capture_on_commit_callbacks)
    assert contradiction_notices().count() == 2


def test_only_the_first_reading_after_the_fill_judges_it(personas, filled,
                                                         django_capture_on_commit_callbacks):
    bunker, line = filled
    report(personas.machine, bunker, 2050, after=timedelta(minutes=5), line=line,
           capture=django_capture_on_commit_callbacks)
    report(personas.machine, bunker, 300, after=timedelta(minutes=90), line=line,
           capture=django_capture_on_commit_callbacks)  # drained since: sold, not a lie
    assert not contradiction_notices().exists()


def test_a_consistent_reading_notifies_nobody(personas, filled,
                                              django_capture_on_commit_callbacks):
    bunker, line = filled
    report(personas.machine, bunker, 2090, after=timedelta(minutes=3), line=line,
           capture=django_capture_on_commit_callbacks)
    assert not contradiction_notices().exists()


def test_a_reading_of_other_bunkers_does_not_judge_the_fill(personas, filled,
                                                            django_capture_on_commit_callbacks):
    bunker, line = filled
    report(personas.machine, personas.coffee, 10, after=timedelta(minutes=3), line=line,
           capture=django_capture_on_commit_callbacks)
    assert not contradiction_notices().exists()
    report(personas.machine, bunker, 100, after=timedelta(minutes=4), line=line,
           capture=django_capture_on_commit_callbacks)
    assert contradiction_notices().count() == 2


def test_a_viewer_and_another_organization_hear_nothing(personas, filled,
                                                        django_capture_on_commit_callbacks):
    make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    bunker, line = filled
    report(personas.machine, bunker, 200, after=timedelta(minutes=5), line=line,
           capture=django_capture_on_commit_callbacks)
    recipients = set(contradiction_notices().values_list("recipient__username", flat=True))
    assert recipients == {"acme-manager", "acme-operator"}
