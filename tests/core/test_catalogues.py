"""The committed .mo files are what `make messages` would compile from the committed .po files (README,
"Languages"): a translation edited in a .po but not compiled would silently never show."""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.LOCALE_PATHS[0])
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/django.po"))


def test_there_is_a_catalogue_per_language_we_offer():
    offered = {translation.to_locale(code) for code, _name in settings.LANGUAGES} - {"en"}
    assert {po.parent.parent.name for po in CATALOGUES} == offered == {"vi", "zh_Hant"}


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: po.parent.parent.name)
def test_each_committed_mo_is_compiled_from_its_po(po, tmp_path):
    compiled = tmp_path / "django.mo"
    # The same call as Django's compilemessages (--check-format: a translation keeps the msgid's placeholders).
    subprocess.run(["msgfmt", "--check-format", "-o", compiled, po], check=True, capture_output=True)
    committed = po.with_suffix(".mo")
    # Compared as catalogues, not bytes: another msgfmt version may lay out the same catalogue differently.
    assert _catalogue(committed) == _catalogue(compiled), f"{committed} is stale: run `make messages`"


def _catalogue(mo: Path) -> dict:
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)._catalog


def test_a_message_template_is_read_from_the_catalogue():
    with translation.override("zh-hant"):
        assert translation.pgettext(
            "join_link to a student", "Your class '{title}' starts at {start} ({zone}). Join here: {url}"
        ) == ("您的課程「{title}」將於 {start}（{zone}）開始。加入連結：{url}")
