"""The catalogues locale/vi and locale/zh_Hant (issue 21 item 9): no entry is fuzzy (gettext ignores those), the
staff's daily pages and the students' pages are translated in full, the placeholders of each translation are the
message's own, and the committed .mo says what the .po says (compilemessages was run after the last edit).

After merging a branch with new strings, ``make messages`` adds them untranslated: these tests then name them."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

LANGUAGES = ["vi", "zh_Hant"]
# The source files of the pages staff and students see: every string they show must be translated.
PAGES = (
    "meetings/admin.py",
    "meetings/admin_views.py",
    "meetings/stats.py",
    "meetings/models.py",
    "meetings/templates/",
    "bookings/admin.py",
    "bookings/models.py",
    "bookings/views.py",
    "bookings/links.py",
    "bookings/templates/",
    "notifications/admin.py",
    "notifications/models.py",
    "core/admin.py",
    "core/admin_utils.py",
    "core/models.py",
    "core/templates/",
    "integrations/local/",
    "integrations/templates/",
)
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]")


def catalogue(language: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES"


def entries(language: str) -> list[dict]:
    """The .po's entries: references, flags, msgid (plural), msgstr (the first form: one form in both languages)."""
    found = []
    for block in (catalogue(language) / "django.po").read_text(encoding="utf-8").split("\n\n"):
        entry = {"refs": [], "flags": set(), "msgid": None, "plural": None, "msgstr": None}
        key = None
        parts: dict[str, list[str]] = {}
        for line in block.strip().splitlines():
            if line.startswith("#:"):
                entry["refs"] += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
            elif line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                parts[key].append(ast.literal_eval(line))
            else:
                key, _, text = line.partition(" ")
                parts[key] = [ast.literal_eval(text)]
        if "msgid" not in parts:
            continue
        entry["msgid"] = "".join(parts["msgid"])
        entry["plural"] = "".join(parts["msgid_plural"]) if "msgid_plural" in parts else None
        entry["msgstr"] = "".join(parts.get("msgstr", parts.get("msgstr[0]", [])))
        found.append(entry)
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_fuzzy(language):
    fuzzy = [e["msgid"] for e in entries(language) if "fuzzy" in e["flags"]]
    assert fuzzy == [], f"fuzzy in {language} (gettext does not use them; translate and drop the flag): {fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_staff_and_student_pages_are_translated(language):
    on_pages = [e for e in entries(language) if e["msgid"] and any(ref.startswith(PAGES) for ref in e["refs"])]
    assert len(on_pages) > 300  # the references were read: the admin, the queue, the lifecycle page, the models
    untranslated = [e["msgid"] for e in on_pages if not e["msgstr"]]
    assert untranslated == [], f"untranslated in {language}: {untranslated}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_translation_keeps_the_placeholders_of_its_message(language):
    wrong = [
        (e["msgid"], e["msgstr"])
        for e in entries(language)
        if e["msgstr"] and set(PLACEHOLDER.findall(e["plural"] or e["msgid"])) != set(PLACEHOLDER.findall(e["msgstr"]))
    ]
    assert wrong == []


# That the committed .mo is what the .po compiles to (contexts included) is tests/core/test_catalogues.py's.
