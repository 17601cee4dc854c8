"""The status vocabulary lives in imgframe/status.py alone, and everything uses it."""

import html
import json
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from imgframe import frame, status
from imgframe.query import normalize_status
from imgframe.report import build_html
from imgframe.sources import SOURCES

PACKAGE = Path(frame.__file__).parent
WORDS = ("ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED")


def test_the_vocabulary_is_consistent():
    assert set(status.ORDER) == set(status.CATEGORIES) == set(status.COLORS) == set(WORDS)
    assert set(status.LISTED) | set(status.UNLISTED) == set(WORDS)
    assert not set(status.LISTED) & set(status.UNLISTED)
    for display, words in status.LISTED.items():
        assert status.display_status(list(words)) == [display] * len(words)
    assert list(status.STATUS_DTYPE.categories) == list(status.CATEGORIES)
    assert len(set(status.COLORS.values())) == len(status.COLORS)


def test_the_frame_dtype_and_the_query_words_come_from_it():
    assert frame.DTYPES["status"] == status.STATUS_DTYPE
    assert normalize_status(list(status.LISTED)) == tuple(status.LISTED)
    assert normalize_status(list(WORDS), queryable=False) == WORDS
    for word in status.UNLISTED:
        with pytest.raises(ValueError, match="cannot be queried"):
            normalize_status(word)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_words_its_statuses_from_it(name):
    words = SOURCES[name].status_words
    assert set(words) <= set(status.LISTED)
    for display, raw in words.items():
        assert set(raw) <= set(status.LISTED[display])


def test_the_report_page_carries_the_palette_and_its_script_none():
    page = build_html(pd.DataFrame({"id": pd.array(["a"], dtype="string")}))
    found = re.search(r'data-statuses="([^"]*)"', page)
    assert json.loads(html.unescape(found.group(1))) == {"order": list(status.ORDER),
                                                         "colors": status.COLORS}
    script = resources.files("imgframe").joinpath("report_assets", "report.js").read_text()
    assert not re.search(r'"(ACTIVE|SAVING|UNKNOWN|ERROR|DELETED)"', script)
    assert not any(colour.lower() in script.lower() for colour in status.COLORS.values())


def test_the_status_words_are_written_in_one_module():
    """No other module of the client side spells a list, tuple or table of the words."""
    literal = re.compile(r'''["'](?:ACTIVE|SAVING|UNKNOWN|ERROR|DELETED)["']\s*[,:]''')
    written = []
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.suffix not in (".py", ".js", ".css") or rel.startswith("server/") \
                or rel in ("status.py", "cli/options.py") \
                or rel == "sources/servers.py":   # Nova's server statuses: another vocabulary
            continue
        code = re.sub(r'""".*?"""', "", path.read_text(encoding="utf-8"), flags=re.S)
        written += [f"{rel}: {m.group()}" for m in literal.finditer(code)]
    assert written == []


def test_the_cli_offers_the_listed_words():
    """``--status`` spells the words out (status.py imports pandas, ``--help`` must not):
    they are :data:`status.LISTED`'s, in its order, and the help shows those (in any case)."""
    from click.testing import CliRunner

    from imgframe.cli import main, options

    assert options.STATUS_CHOICES == tuple(status.LISTED)
    for command in ("export", "snapshot", "trend"):
        shown = CliRunner().invoke(main, [command, "--help"]).output
        assert f"[{'|'.join(status.LISTED)}]".lower() in shown.lower(), command
