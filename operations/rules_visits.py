"""Pure decisions of a visit: which action a visit's state allows, what a fill does to a
level, and when a device's reading contradicts a recorded fill. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from operations.models import RouteStatus, VisitStatus

CHECK_IN = "check_in"
FILL = "fill"
CASH = "cash"
NOTE = "note"
CHECK_OUT = "check_out"
SKIP = "skip"
KINDS = (CHECK_IN, FILL, CASH, NOTE, CHECK_OUT, SKIP)

#: The visit statuses each kind of action applies to. A note may be written before the
#: operator reaches the machine (a locked door, a blocked entrance), everything else at it.
_ALLOWED_FROM = {
    CHECK_IN: (VisitStatus.PLANNED,),
    FILL: (VisitStatus.CHECKED_IN,),
    CASH: (VisitStatus.CHECKED_IN,),
    NOTE: (VisitStatus.PLANNED, VisitStatus.CHECKED_IN),
    CHECK_OUT: (VisitStatus.CHECKED_IN,),
    SKIP: (VisitStatus.PLANNED, VisitStatus.CHECKED_IN),
}

#: Visits that no longer wait for the operator: a route whose visits are all so is done.
FINISHED_VISIT_STATUSES = (VisitStatus.DONE, VisitStatus.SKIPPED)

#: A reading judges a fill only this long after it: later, the machine has sold from it.
CONTRADICTION_WINDOW = timedelta(hours=2)
#: Fills smaller than this are not judged: a sensor's noise is of that order.
CONTRADICTION_MIN_FILL = 500
#: A reading under this share of what was poured in contradicts the fill.
CONTRADICTION_RATIO = 0.5


def action_state_error(*, kind: str, visit_status: str, route_status: str) -> str | None:
    """Why `kind` cannot be applied to a visit in `visit_status` on a route in
    `route_status` (None: it can). The message is for the operator."""
    if route_status == RouteStatus.CANCELLED:
        return _("This route was cancelled.")
    if visit_status in _ALLOWED_FROM[kind]:
        return None
    if visit_status in FINISHED_VISIT_STATUSES:
        return _("This visit is finished already.")
    if visit_status == VisitStatus.PLANNED:
        return _("Check in at the machine first.")
    return _("You are checked in at this machine already.")


def level_after_fill(*, level: int, previous_fill: int | None, fill: int,
                     capacity: int | None) -> int:
    """The level once `fill` is recorded for a line that had `previous_fill` recorded
    (None: nothing yet). A new record of the same line replaces the earlier one (the
    operator corrects a mistyped quantity), so the level moves by the difference. The
    operator records what was poured in, never "full": the level is what was there plus
    that, capped at the capacity (None: no known capacity) and never below zero."""
    moved = level + fill - (previous_fill or 0)
    if capacity is not None:
        moved = min(moved, capacity)
    return max(moved, 0)


def route_finished(visit_statuses: list[str]) -> bool:
    """A route is done when it has visits and none waits for the operator any more."""
    return bool(visit_statuses) and all(s in FINISHED_VISIT_STATUSES for s in visit_statuses)


@dataclass(frozen=True)
class RecordedFill:
    filled_at: datetime
    quantity: int  # grams poured in
    capacity: int  # the bunker's


def fill_contradicted(*, fill: RecordedFill, reported_level: int, reported_at: datetime) -> bool:
    """Whether the device's first reading after `fill` contradicts it: within
    CONTRADICTION_WINDOW, a fill of at least CONTRADICTION_MIN_FILL grams, and a level under
    CONTRADICTION_RATIO of what the bunker held at least afterwards (what was poured in,
    up to the capacity: the level before the fill is not known for sure)."""
    if fill.quantity < CONTRADICTION_MIN_FILL:
        return False
    if not fill.filled_at < reported_at <= fill.filled_at + CONTRADICTION_WINDOW:
        return False
    return reported_level < min(fill.quantity, fill.capacity) * CONTRADICTION_RATIO


#: The image types a visit's photo may be, by their first bytes, with the extension the
#: stored file gets (never the client's name nor its declared type).
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)


def photo_extension(head: bytes) -> str | None:
    """The extension of an image whose file begins with `head` (at least 12 bytes read):
    JPEG, PNG or WebP; None for anything else."""
    for signature, extension in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return extension
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None
