"""The notification centre's endpoints: the user's own notifications only."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import check_for_language
from django.views import i18n
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from machines.filters import StrictBooleanFilter
from notifications import selectors, services
from notifications.models import Notification
from notifications.serializers import (
    NotificationSerializer,
    UnreadCountSerializer,
    UpdatedCountSerializer,
)


class NotificationFilter(filters.FilterSet):
    read = StrictBooleanFilter()

    class Meta:
        model = Notification
        fields = ["read", "type", "priority"]


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """`?read=false` for the unread ones; `?type=`, `?priority=` too. Someone else's
    notification is a 404."""

    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    search_fields = ["title", "message"]
    ordering_fields = ["created_at", "priority"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet:
        return selectors.notifications_for(self.request.user)

    @extend_schema(responses=UnreadCountSerializer)
    @action(
        detail=False,
        methods=["get"],
        url_path="unread-count",
        filter_backends=[],
        pagination_class=None,
    )
    def unread_count(self, request: Request) -> Response:
        return Response({"count": selectors.unread_count_for(request.user)})

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"], url_path="read", filter_backends=[])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = services.mark_read(notification=self.get_object())
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=None, responses=UpdatedCountSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path="read-all",
        filter_backends=[],
        pagination_class=None,
    )
    def read_all(self, request: Request) -> Response:
        return Response({"updated": services.mark_all_read(recipient=request.user)})


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's `set_language` (the language cookie), also remembered for a signed-in user:
    what reaches them without a request (their socket events) is written in it."""
    response = i18n.set_language(request)
    language = request.POST.get("language") if request.method == "POST" else None
    if language and check_for_language(language) and request.user.is_authenticated:
        services.set_language(user=request.user, language=language)
    return response
