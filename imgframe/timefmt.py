"""How imgframe writes an instant as text: ``2026-01-02T03:04:05Z`` (UTC, whole seconds).

One format for the times imgframe stamps on what it makes: ``attrs["imgframe"]["loaded_at"]``
of a load, a refresh (and its ``since``) and `load_many`, and a report's ``generated_at``.
Pure: the standard library only. (A filter's time sent to an API is another matter:
`imgframe.query.format_time` rounds *up* to the second, so ``>=`` keeps its meaning.)
"""

from __future__ import annotations

import datetime as dt

__all__ = ["STAMP_FORMAT", "utc_stamp"]

#: ``strftime`` format of :func:`utc_stamp`
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_stamp(when: dt.datetime | None = None) -> str:
    """``when`` as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, sub-seconds dropped; ``None``: now.

    ``when`` is a ``datetime`` (a pandas ``Timestamp`` is one); naive means UTC, an aware
    one is converted.

    >>> utc_stamp(dt.datetime(2026, 1, 2, 3, 4, 5, 999_999))
    '2026-01-02T03:04:05Z'
    >>> utc_stamp(dt.datetime(2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2026-01-02T03:04:05Z'
    >>> len(utc_stamp())
    20
    """
    if when is None:
        when = dt.datetime.now(dt.timezone.utc)
    elif not isinstance(when, dt.datetime):
        raise TypeError(f"utc_stamp() takes a datetime or None, got {type(when).__name__}")
    elif when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime(STAMP_FORMAT)
