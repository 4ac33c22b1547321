from rest_framework.routers import DefaultRouter

from notifications.views import NotificationViewSet

router = DefaultRouter()
# DRF reads the `trailing_slash` argument as a boolean ("/?" would mean "/"): set the
# pattern itself so that both `/machines` and `/machines/` resolve.
router.trailing_slash = "/?"
router.register("notifications", NotificationViewSet, basename="notification")
urlpatterns = router.urls
