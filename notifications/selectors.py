"""Reads of notifications. A user only ever sees the notifications addressed to them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from notifications.models import LanguagePreference, Notification


def notifications_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user).order_by("-created_at")


def unread_count_for(user: AbstractBaseUser | AnonymousUser) -> int:
    return notifications_for(user).filter(read=False).count()


def language_of_user(user_id) -> str:
    """The language `user_id` reads in: their preference, else the site's default."""
    language = (LanguagePreference.objects.filter(user_id=user_id)
                .values_list("language", flat=True).first())
    return language or settings.LANGUAGE_CODE
