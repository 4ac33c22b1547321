"""Moving the test database to some migrations and back, for the tests of migrations that
convert or fill stored data."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str]]) -> Apps:
    """Apply or unapply up to `targets`; returns the models' historical state there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest() -> list[tuple[str, str]]:
    """Every app's last migration: where a test leaves the database."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
