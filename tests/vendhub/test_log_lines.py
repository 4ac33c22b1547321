"""Log lines: each django.request warning printed once under DEBUG, with a UTC timestamp."""

import re
import subprocess
import sys

from tests.live import ROOT

SCRIPT = """
import django, logging
django.setup()
logging.getLogger("django.request").warning("Not Found: /nowhere/")
"""


def test_a_django_request_warning_is_printed_once_with_an_iso_utc_time():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"DJANGO_SETTINGS_MODULE": "vendhub.settings", "DEBUG": "1", "PATH": "/usr/bin"})
    lines = [line for line in result.stderr.splitlines() if "Not Found: /nowhere/" in line]
    assert len(lines) == 1, result.stderr
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z WARNING django.request: ",
                    lines[0]), lines[0]
