from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Field operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers route:updated with the other event schemas.
        from operations import events  # noqa: F401
        from operations.fill_checks import check_fill_contradictions
        from operations.forecasting import refresh_after_ingest_of, refresh_stale_forecasts
        from operations.slot_stocks import stock_new_slots, take_sold
        from sales import ingest as vend_ingest
        from sales import services as sales_services
        from telemetry import services as telemetry_services
        from telemetry.watchdog import register_sweep_check

        # Sales and telemetry call what operations keeps up to date through their hooks:
        # they do not import the apps built on them.
        _register(vend_ingest.IN_BATCH_HOOKS, take_sold)
        _register(vend_ingest.AFTER_COMMIT_HOOKS, refresh_after_ingest_of)
        _register(telemetry_services.AFTER_COMMIT_HOOKS, refresh_after_ingest_of)
        _register(sales_services.PLANOGRAM_HOOKS, stock_new_slots)
        register_sweep_check(refresh_stale_forecasts)
        register_sweep_check(_plan_tomorrow_if_due)
        # A device's first reading after a recorded refill confirms or contradicts it.
        _register(telemetry_services.AFTER_COMMIT_HOOKS, check_fill_contradictions)


def _plan_tomorrow_if_due(*, now=None):
    # Imported on the first sweep, not at startup: the planner pulls in the solver.
    from operations.planning import plan_tomorrow_if_due

    return plan_tomorrow_if_due(now=now)


def _register(hooks: list, hook) -> None:
    if hook not in hooks:
        hooks.append(hook)
