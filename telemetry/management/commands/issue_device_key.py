"""`manage.py issue_device_key SERIAL_NUMBER`: print a new device key for a machine."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from machines.models import Machine
from telemetry.device_keys import issue_device_key


class Command(BaseCommand):
    help = (
        "Issue a device key for the machine with this serial number and print it on stdout "
        "(once: only its hash is stored). The machine sends it as `Authorization: Device <key>`."
    )

    def add_arguments(self, parser):
        parser.add_argument("serial_number")
        parser.add_argument("--label", default="", help="a note, e.g. the device's board id")
        parser.add_argument("--revoke-existing", action="store_true",
                            help="revoke the machine's other keys (replaced or compromised device)")

    def handle(self, *args, serial_number: str, label: str, revoke_existing: bool, **options):
        machine = Machine.objects.filter(serial_number=serial_number).first()
        if machine is None:
            raise CommandError(f"no machine with serial number {serial_number!r}")
        issued = issue_device_key(machine=machine, label=label, revoke_existing=revoke_existing)
        self.stderr.write(f"Device key for {machine} (prefix {issued.device_key.prefix}); "
                          "it is not stored, copy it now:")
        self.stdout.write(issued.plaintext)
