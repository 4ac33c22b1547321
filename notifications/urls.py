from rest_framework.routers import DefaultRouter

from notifications.views import NotificationViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("notifications", NotificationViewSet, basename="notification")
urlpatterns = router.urls
