"""`manage.py mqtt_sync_credentials`: bring the broker's device clients up to date."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from devices.credentials import broker_configured, sync_credentials
from devices.dynsec import DynsecError


class Command(BaseCommand):
    help = (
        "Apply the device-key changes the MQTT broker has not received yet (keys issued or "
        "revoked while it was unreachable), and delete broker clients whose key is no longer "
        "active. Lists the machines whose active keys predate MQTT: they need a new key "
        "(issue_device_key) to connect over MQTT. Safe to run at any time, e.g. from cron."
    )

    def handle(self, *args, **options):
        if not broker_configured():
            raise CommandError("MQTT_URL is not set: there is no broker to synchronise")
        try:
            report = sync_credentials()
        except DynsecError as error:
            raise CommandError(f"the broker cannot be reached: {error}") from error
        applied = report.applied
        self.stdout.write(f"changes applied: {applied.applied}, failed: {applied.failed}")
        for error in applied.errors:
            self.stderr.write(f"  {error}")
        for serial in report.removed:
            self.stdout.write(f"removed the broker client of {serial} (its key is not active)")
        for serial in report.without_client:
            self.stdout.write(f"{serial}: active key but no broker client; issue a new key "
                              "for MQTT")
        if applied.failed:
            raise CommandError(f"{applied.failed} change(s) could not be applied")
