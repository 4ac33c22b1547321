"""JWT authentication of Socket.IO connections (simplejwt access tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from .engine.server import header, query_params


class AuthenticationFailed(Exception):
    pass


@dataclass(frozen=True)
class TokenIdentity:
    user_id: int
    expires_at: float  # unix time


def token_from(auth: object, scope: dict) -> str | None:
    """The token from the CONNECT auth payload `{token}`, an `Authorization: Bearer`
    header, or a `token` query parameter, in that order."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return auth["token"]
    authorization = header(scope, b"authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query_params(scope).get("token") or None


def verify_access_token(token: str | None) -> TokenIdentity:
    """Validate a token and its user. Raises AuthenticationFailed with a client-facing reason."""
    if not token:
        raise AuthenticationFailed("Authentication required: send an access token as auth.token")
    try:
        access = AccessToken(token)
    except TokenError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}") from None
    user_id = access.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("Invalid token: user not found or inactive")
    return TokenIdentity(user_id=user.pk, expires_at=float(access["exp"]))
