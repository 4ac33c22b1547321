"""A person who never chose a language with the dashboard's switcher still gets their events
in the language their browser reads: it is remembered when they connect (never over a
choice they made)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from notifications.models import LanguagePreference
from realtime.authentication import requested_language
from tests.realtime.product import raw_client

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def scope_with(*headers: tuple[bytes, bytes]) -> dict:
    return {"type": "websocket", "headers": list(headers)}


@pytest.mark.parametrize(("headers", "language"), [
    ([(b"accept-language", b"ru-RU,ru;q=0.9,en;q=0.8")], "ru"),
    ([(b"accept-language", b"de-DE,uz;q=0.5")], "uz"),
    ([(b"accept-language", b"de, fr")], None),
    ([(b"cookie", b"csrftoken=x; django_language=uz"), (b"accept-language", b"ru")], "uz"),
    ([(b"cookie", b"django_language=xx"), (b"accept-language", b"ru")], "ru"),
    ([(b"cookie", b"\x00bad=\"cookie")], None),
    ([], None),
])
def test_the_requested_language_comes_from_the_cookie_then_accept_language(headers, language):
    assert requested_language(scope_with(*headers)) == language


async def preference_of(user) -> str | None:
    for _ in range(50):
        found = await sync_to_async(
            lambda: LanguagePreference.objects.filter(user=user)
            .values_list("language", flat=True).first())()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    return None


async def test_connecting_remembers_the_browsers_language_of_a_user_who_never_chose(gateway):
    operator = gateway.people.operator
    async with raw_client(gateway, gateway.tokens["operator"],
                          headers={"Accept-Language": "ru-RU,ru;q=0.9"}):
        assert await preference_of(operator) == "ru"


async def test_connecting_never_overrides_a_language_the_user_chose(gateway):
    viewer = gateway.people.viewer
    await sync_to_async(LanguagePreference.objects.create)(user=viewer, language="uz")
    async with raw_client(gateway, gateway.tokens["viewer"],
                          headers={"Accept-Language": "ru"}) as client:
        await client.assert_no_event(0.3)
    assert await preference_of(viewer) == "uz"
