"""Glance's filter semantics, as Nova's images proxy inherits them (pure functions).

Nova lower-cases `status`, turns `changes-since` into `updated_at=gte:<value>`, maps
`server` and `type` onto properties and hands the rest to Glance v2. The helpers here
reproduce what Glance then does (glance/common/utils.py, glance/db/sqlalchemy/api.py) and
the exact error texts that come back through Nova.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["GlanceBadRequest", "filter_values", "parse_isotime", "split_filter_op",
           "split_in_values", "sql_number"]

UTC = dt.timezone.utc

# the iso8601 package's pattern (what oslo's timeutils.parse_isotime uses)
_ISO8601 = re.compile(
    r"""
    (?P<year>[0-9]{4})
    (
        (
            (-(?P<monthdash>[0-9]{1,2}))
            |
            (?P<month>[0-9]{2})
            (?!$)  # Don't allow YYYYMM
        )
        (
            (
                (-(?P<daydash>[0-9]{1,2}))
                |
                (?P<day>[0-9]{2})
            )
            (
                (
                    (?P<separator>[ T])
                    (?P<hour>[0-9]{2})
                    (:{0,1}(?P<minute>[0-9]{2})){0,1}
                    (
                        :{0,1}(?P<second>[0-9]{1,2})
                        ([.,](?P<second_fraction>[0-9]+)){0,1}
                    ){0,1}
                    (?P<timezone>
                        Z
                        |
                        (
                            (?P<tz_sign>[-+])
                            (?P<tz_hour>[0-9]{2})
                            :{0,1}
                            (?P<tz_minute>[0-9]{2}){0,1}
                        )
                    ){0,1}
                ){0,1}
            )
        ){0,1}
    ){0,1}
    $
    """,
    re.VERBOSE,
)


class GlanceBadRequest(ValueError):
    """A 400 Glance would answer; `str()` is the message as Nova relays it."""

    def __init__(self, message: str):
        # webob escapes the explanation as HTML; glanceclient prefixes the status line
        escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        escaped = escaped.replace('"', "&quot;").replace("'", "&#x27;")
        super().__init__(f"HTTP 400 Bad Request: {escaped}")


def parse_isotime(value: str) -> dt.datetime:
    """Parse like oslo `timeutils.parse_isotime`: naive means UTC. Raises ValueError.

    >>> parse_isotime("2020-03-01").isoformat()
    '2020-03-01T00:00:00+00:00'
    """
    m = _ISO8601.match(value)
    if not m:
        raise ValueError(f"Unable to parse date string {value!r}")
    g = m.groupdict()
    frac = g["second_fraction"] or "0"
    tz = UTC
    if g["timezone"] and g["timezone"] != "Z":
        sign = -1 if g["tz_sign"] == "-" else 1
        delta = dt.timedelta(hours=int(g["tz_hour"]), minutes=int(g["tz_minute"] or 0))
        tz = dt.timezone(sign * delta)
    return dt.datetime(
        int(g["year"]), int(g["month"] or g["monthdash"] or 1),
        int(g["day"] or g["daydash"] or 1), int(g["hour"] or 0), int(g["minute"] or 0),
        int(g["second"] or 0), int(float("0." + frac) * 1e6), tzinfo=tz,
    )


def split_filter_op(expression: str) -> tuple[str, str]:
    """Glance's `split_filter_op`: ``"in:a,b"`` -> ``("in", "a,b")``; an ISO time stays whole."""
    left, sep, right = expression.partition(":")
    if not sep:
        return "eq", left
    try:
        parse_isotime(expression)
        return "eq", expression
    except ValueError:
        return left, right


_IN_VALUES = re.compile(r'''
    "(                 # if found a double-quote
       [^\"\\]*        # take characters either non-quotes or backslashes
       (?:\\.          # take backslashes and character after it
        [^\"\\]*)*     # take characters either non-quotes or backslashes
     )                 # before double-quote
    ",?                # a double-quote with comma maybe
    | ([^,]+),?        # if not found double-quote take any non-comma
                       # characters with comma maybe
    | ,                # if we have only comma take empty string
    ''', re.VERBOSE)


def split_in_values(value: str) -> list[str]:
    """Glance's `split_filter_value_for_quotes` for ``in:`` lists (quotes protect commas)."""
    if value.count('"') % 2:
        raise GlanceBadRequest(f"Invalid filter value {value}. The quote is not closed.")
    return [a or b for a, b in _IN_VALUES.findall(value)]


def filter_values(value: str) -> frozenset:
    """The set of accepted values for an `eq`/`in` filter on `field`; 400 on other operators."""
    op, rest = split_filter_op(value)
    if op == "eq":
        return frozenset((rest,))
    if op == "in":
        return frozenset(split_in_values(rest))
    raise GlanceBadRequest(f"Unable to filter by unknown operator '{op}'.")


_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def sql_number(value: str):
    """What an INTEGER column compares equal to, as sqlite does (`"0512"` -> 512), else None."""
    if not _NUMBER.fullmatch(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() else number
