"""JWT authentication of Socket.IO connections (simplejwt access tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from .server.engine.server import header


class AuthenticationFailed(Exception):
    pass


#: The answer to a token whose user is gone or deactivated.
INACTIVE_USER = "Invalid token: user not found or inactive"


@dataclass(frozen=True)
class TokenIdentity:
    user_id: int
    expires_at: float  # unix time


def token_from(auth: object, scope: dict) -> str | None:
    """The token from the CONNECT auth payload `{token}` or an `Authorization: Bearer`
    header, in that order. Never from the query string: URLs end up in access logs and
    proxies' logs, and an access token there would outlive the request."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return auth["token"]
    authorization = header(scope, b"authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def decode_access_token(token: str | None) -> TokenIdentity:
    """Check a token's signature, type and expiry: no database. Raises AuthenticationFailed
    with a client-facing reason. Whether its user may still connect is `load_viewer`'s
    question."""
    if not token:
        raise AuthenticationFailed("Authentication required: send an access token as auth.token")
    try:
        access = AccessToken(token)
    except TokenError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}") from None
    try:
        # simplejwt writes the id (USER_ID_FIELD, the primary key `id`) as a string; viewers
        # are keyed by the primary key itself.
        user_id = get_user_model()._meta.pk.to_python(access.get(api_settings.USER_ID_CLAIM))
    except ValidationError:
        user_id = None
    if user_id is None:
        raise AuthenticationFailed("Invalid token: no user id")
    return TokenIdentity(user_id=user_id, expires_at=float(access["exp"]))



def requested_language(scope: dict) -> str | None:
    """The language the connecting browser reads: the dashboard's language cookie, else the
    first offered language of its Accept-Language header; None when neither names one the
    site offers."""
    cookies = header(scope, b"cookie")
    if cookies:
        try:
            morsel = SimpleCookie(cookies).get(settings.LANGUAGE_COOKIE_NAME)
        except CookieError:
            morsel = None
        if morsel is not None and morsel.value:
            try:
                return get_supported_language_variant(morsel.value)
            except LookupError:
                pass
    for language, _quality in parse_accept_lang_header(header(scope, b"accept-language") or ""):
        if language == "*":
            continue
        try:
            return get_supported_language_variant(language)
        except LookupError:
            continue
    return None
