"""Texts the server writes for people, stored as what happened and rendered per reader.

A notification (or an automatic task) keeps a message key and its parameters; the text is
rendered when someone reads it, in their language: the request's for REST and the
dashboard, the recipient's preference for their socket events, the admin's for the admin.
Parameters are JSON values (names of machines and ingredients stay as people typed them);
a parameter made by `keyed` is itself a keyed text, rendered in the same language.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

#: Every key the server may store, with its English text (the msgid of the translations).
MESSAGES: dict[str, str] = {
    "bunker_low.title": _("Low %(ingredient)s at %(machine)s"),
    "bunker_low.message": _("%(level)d g of %(capacity)d g left (under %(threshold)d%%)."),
    "refill.title": _("Refill %(ingredient)s at %(machine)s"),
    "refill.notes": _("%(level)d g of %(capacity)d g left, under the %(threshold)d%% threshold."),
    "cash_collection.title": _("Collect cash at %(machine)s"),
    "cash_collection.notes": _("About %(expected)d in the cash box, past the collection "
                               "threshold of %(threshold)d."),
    "cash_collection.counted": _("Counted %(counted)d, expected %(expected)d: "
                                 "a difference of %(difference)+d."),
    "too_hot.title": _("Too hot: %(machine)s"),
    "too_hot.message": _("%(value).1f °C, above the %(limit).1f °C limit."),
    "too_humid.title": _("Too humid: %(machine)s"),
    "too_humid.message": _("%(value).1f %% humidity, above the %(limit).1f %% limit."),
    "critical_error.title": _("Critical error %(code)s at %(machine)s"),
    "machine_error.title": _("%(machine)s: %(code)s"),
    "offline.title": _("%(machine)s is offline"),
    "offline.never": _("Never reported telemetry."),
    "offline.silent": _("Silent for %(silent)s (expected every %(interval)d s)."),
    "stopped_selling.title": _("%(machine)s stopped selling"),
    "stopped_selling.message": _("Machine %(machine)s has sold nothing for %(silent)s "
                                 "(usually sells within %(usual)s at this hour)."),
    "duration.minutes": _("%(minutes)d min"),
    "duration.hours_minutes": _("%(hours)d h %(minutes)d min"),
    "duration.days_hours": _("%(days)d d %(hours)d h"),
    "task_assigned.title": _("New task: %(task)s"),
    "task_assigned.message": _("%(actor)s gave you this task at %(machine)s."),
    "task_assigned.automatic": _("Opened for you automatically: a low reading at %(machine)s."),
    "task_assigned.automatic_collection": _("Opened for you automatically: the cash box of "
                                            "%(machine)s passed the collection threshold."),
    "task_unassigned.title": _("Task taken off your board: %(task)s"),
    "task_unassigned.message": _("%(actor)s gave this task at %(machine)s to someone else."),
    "task_done.title": _("Done: %(task)s"),
    "task_done.message": _("%(actor)s finished this task at %(machine)s."),
    "task_rejected.title": _("Rejected: %(task)s"),
    "task_rejected.message": _("%(actor)s could not do this task at %(machine)s; "
                               "reopen it to hand it out again."),
    "fill_contradicted.title": _("Refill not confirmed: %(ingredient)s at %(machine)s"),
    "fill_contradicted.message": _("%(operator)s recorded %(filled)d g poured in, but the "
                                   "machine's next reading reports %(level)d g."),
}


def language_of(language: str | None) -> str:
    """`language` when the site offers it, else the site's default."""
    offered = {code for code, _name in settings.LANGUAGES}
    if language in offered:
        return language
    base = (language or "").split("-")[0].lower()
    return base if base in offered else settings.LANGUAGE_CODE


def render(key: str, params: Mapping[str, Any] | None = None, *,
           language: str | None = None) -> str:
    """The text of `key` with `params`, in `language` (None: the active language).

    An unknown key renders as "" (a row written by a newer release); a translation whose
    placeholders do not fit the parameters falls back to the English text.
    """
    template = MESSAGES.get(key)
    if template is None:
        return ""
    with translation.override(language) if language else nullcontext():
        translated = gettext(template)
        params = {name: _text_of(value) for name, value in (params or {}).items()}
    try:
        return translated % params
    except (KeyError, TypeError, ValueError):
        try:
            return template % params
        except (KeyError, TypeError, ValueError):
            return template


def keyed(key: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A keyed text as a parameter of another (a server-written task title inside the
    notification about that task): rendered in the outer text's language."""
    return {"key": key, "params": dict(params or {})}


def keyed_duration(delta: timedelta) -> dict[str, Any]:
    """`delta` as a keyed text ("3 h 10 min", "2 d 5 h", "40 min"), its units rendered in
    the reader's language; rounded down to the minute (to the hour beyond a day)."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    if minutes >= 24 * 60:
        return keyed("duration.days_hours", {"days": minutes // (24 * 60),
                                             "hours": minutes % (24 * 60) // 60})
    if minutes >= 60:
        return keyed("duration.hours_minutes", {"hours": minutes // 60, "minutes": minutes % 60})
    return keyed("duration.minutes", {"minutes": minutes})


def _text_of(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"key", "params"}:
        return render(value["key"], value["params"])  # the language active in `render`
    return value


def text(key: str, params: Mapping[str, Any] | None, stored: str, *,
         language: str | None = None) -> str:
    """What a row shows: its keyed text in `language` (None: the active one), or `stored`
    when it has no key (a person's or a device's own words, shown as written) or a key this
    release does not know."""
    if not key:
        return stored
    return render(key, params, language=language) or stored


def default_text(key: str, params: Mapping[str, Any] | None = None) -> str:
    """The text in the site's default language, stored beside the key (search, exports)."""
    return render(key, params, language=settings.LANGUAGE_CODE)
