"""Every string the product shows is translated: the Russian and Uzbek catalogues (django
and djangojs domains) hold every msgid of the sources, none untranslated or fuzzy, and the
committed .mo files say what the .po files say."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

from tests.conftest import unavailable

LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
DOMAINS = ["django", "djangojs"]
LOCALE = Path(settings.BASE_DIR) / "locale"
#: What `make messages` leaves out: not the product's (tooling, tests, generated files).
IGNORED = [".*", ".venv", "node_modules", "test-artifacts", "bench", "tests", "staticfiles",
           "*.egg-info", "__pycache__"]

CATALOGUES = [(language, domain) for language in LANGUAGES for domain in DOMAINS]


def problems(po: polib.POFile) -> list[str]:
    """The live entries a reader would see in English: untranslated, or fuzzy (a guess
    gettext ignores and nobody checked)."""
    return [f"{'fuzzy' if 'fuzzy' in entry.flags else 'untranslated'}: {entry.msgid!r}"
            for entry in po
            if not entry.obsolete and ("fuzzy" in entry.flags or not entry.translated())]


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_every_msgid_of_the_committed_catalogue_is_translated(language, domain):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / f"{domain}.po"))
    assert problems(po) == []


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_the_committed_mo_file_is_compiled_from_the_po_file(language, domain):
    folder = LOCALE / language / "LC_MESSAGES"
    po = polib.pofile(str(folder / f"{domain}.po"))
    mo = polib.mofile(str(folder / f"{domain}.mo"))

    def translations(entries) -> dict:
        return {(entry.msgctxt, entry.msgid): entry.msgstr or entry.msgstr_plural
                for entry in entries if entry.msgid}

    assert translations(mo) == translations(po.translated_entries()), (
        "run `make messages` (compilemessages)")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """The catalogues as `makemessages` leaves them after reading today's sources: run on a
    copy of the tree, so the committed files are never touched."""
    if shutil.which("xgettext") is None:
        unavailable("gettext's xgettext is not installed (`make bootstrap` installs it)")
    copy = tmp_path_factory.mktemp("sources") / "tree"
    shutil.copytree(settings.BASE_DIR, copy, ignore=shutil.ignore_patterns(*IGNORED))
    mp = pytest.MonkeyPatch()
    mp.chdir(copy)
    mp.setattr(settings, "LOCALE_PATHS", [copy / "locale"])
    try:
        for domain in DOMAINS:
            call_command("makemessages", locale=LANGUAGES, domain=domain,
                         ignore_patterns=IGNORED, verbosity=0)
    finally:
        mp.undo()
    return copy / "locale"


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_no_string_of_the_sources_is_missing_from_the_catalogue(extracted, language, domain):
    po = polib.pofile(str(extracted / language / "LC_MESSAGES" / f"{domain}.po"))
    assert problems(po) == [], "run `make messages` and translate what it lists"
