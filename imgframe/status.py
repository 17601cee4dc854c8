"""The status vocabulary, in one place: the display words, their orders, their colours, and
what the APIs' own words mean. Pure.

Every frame's ``status`` column holds the compute API's *display* words (Nova's
``ViewBuilder._get_status``), whatever the source; ``status_raw`` keeps the API's own word.
Glance v2 and Huawei IMS send Glance's words, and Nova's proxy filters by them, so one
table maps them (:data:`DISPLAY_OF`), and one the other way (:data:`LISTED`: the words a
listing can return behind each display word, which the sources send as filters)::

    display   ACTIVE   SAVING           UNKNOWN                           ERROR    DELETED
    raw       active   queued, saving   deactivated, importing, uploading killed   deleted,
                                        (and any other word)                       pending_delete
    listed    yes      yes              yes                               never    never

Two orders: :data:`CATEGORIES`, the categories of the frame's ``status`` dtype (kept as
imgframe 0.1 made them, so frames stay comparable), and :data:`ORDER`, the order people
see (counts, charts, the report, the explorer): live first, gone last. :data:`COLORS` is
the one palette of the charts, the report and the explorer.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "COLORS", "DISPLAY_OF", "LISTED", "ORDER", "STATUS_DTYPE",
           "UNLISTED", "display_status", "listed_among", "palette"]

#: The display words, in the order of the frame's ``status`` categories.
CATEGORIES = ("ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN")

#: The display words in the order people see them: live first, gone last.
ORDER = ("ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED")

#: One colour per display word: the charts, the report and the explorer.
COLORS = {"ACTIVE": "#2a9d55", "SAVING": "#3274c7", "UNKNOWN": "#8c8c8c",
          "ERROR": "#d1382e", "DELETED": "#4d3b2f"}

#: The API words (Glance's, which IMS shares and Nova's proxy filters by) a listing can
#: return behind each display word: what a ``status=`` filter sends.
LISTED = {
    "ACTIVE": ("active",),
    "SAVING": ("queued", "saving"),
    "UNKNOWN": ("deactivated", "importing", "uploading"),
}

#: The display words no listing returns, and why (a filter on them is refused).
UNLISTED = {
    "DELETED": "the images API never lists deleted images",
    "ERROR": "the images API never lists killed (ERROR) images",
}

#: API word -> display word (Nova's ``ViewBuilder._get_status``); any other is UNKNOWN.
DISPLAY_OF = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING",
              "killed": "ERROR", "deleted": "DELETED", "pending_delete": "DELETED",
              **{raw: display for display, words in LISTED.items() for raw in words}}


def display_status(raw: list) -> list:
    """Map API status words (any case) to the display words; null stays null.

    >>> display_status(["active", "queued", "pending_delete", "deactivated", None])
    ['ACTIVE', 'SAVING', 'DELETED', 'UNKNOWN', None]
    """
    lut: dict = {None: None}
    for value in set(raw).difference(lut):
        word = value.lower() if isinstance(value, str) else value
        lut[value] = DISPLAY_OF.get(word, "UNKNOWN")
    return list(map(lut.__getitem__, raw))


def listed_among(words) -> dict:
    """:data:`LISTED` narrowed to the API words ``words`` (an API that has fewer).

    >>> listed_among(("active", "queued", "saving", "killed"))
    {'ACTIVE': ('active',), 'SAVING': ('queued', 'saving')}
    """
    out = {display: tuple(w for w in raw if w in words) for display, raw in LISTED.items()}
    return {display: raw for display, raw in out.items() if raw}


def palette() -> dict:
    """The vocabulary a front end needs, JSON-friendly: ``{"order": [...], "colors": {...}}``.

    >>> palette()["order"][:2], palette()["colors"]["SAVING"]
    (['ACTIVE', 'SAVING'], '#3274c7')
    """
    return {"order": list(ORDER), "colors": dict(COLORS)}


# pandas last: `import imgframe` registers df.images as pandas finishes loading, and the
# accessor reads this module's names (every one above is defined by then)
import pandas as pd  # noqa: E402

STATUS_DTYPE = pd.CategoricalDtype(list(CATEGORIES))
