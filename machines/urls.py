from rest_framework.routers import DefaultRouter

from machines.views import IngredientViewSet, MachineViewSet, OperatorViewSet, TaskViewSet

router = DefaultRouter()
# DRF reads the `trailing_slash` argument as a boolean ("/?" would mean "/"): set the
# pattern itself so that both `/machines` and `/machines/` resolve.
router.trailing_slash = "/?"
router.register("machines", MachineViewSet, basename="machine")
router.register("ingredients", IngredientViewSet, basename="ingredient")
router.register("tasks", TaskViewSet, basename="task")
router.register("operators", OperatorViewSet, basename="operator")
urlpatterns = router.urls
