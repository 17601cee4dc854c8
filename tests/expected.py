"""What the embedded endpoint should list, worked out from its records: shared by the
tests that compare a listing with the catalogue (imported as ``expected``)."""

import pandas as pd

from imgframe.server import DEFAULT_PROJECT_ID

#: Glance statuses no listing shows (reference: nova-images-api.md)
NOT_LISTED = frozenset({"killed", "deleted", "pending_delete"})


def default_listing(record: dict, project: str = DEFAULT_PROJECT_ID) -> bool:
    """Glance's default listing for ``project``, which Nova's proxy lists: no hidden
    images, no other project's private or community images."""
    return not record["os_hidden"] and (record["owner"] == project
                                        or record["visibility"] in ("public", "shared"))


def nova_lists(record: dict, project: str = DEFAULT_PROJECT_ID) -> bool:
    """Whether Nova's images list shows ``record`` to ``project``."""
    return record["status"] not in NOT_LISTED and default_listing(record, project)


def same(a, b):
    """Two ways to one page gave the same frame, or the same error (type and text)."""
    if isinstance(a, Exception) or isinstance(b, Exception):
        assert type(a) is type(b) and str(a) == str(b), (a, b)
    else:
        pd.testing.assert_frame_equal(a, b)


def same_servers(df, one, since):
    """Two servers frames of the sample cloud are the same, but for ``updated`` of a
    server it keeps updating (its ``updated`` is the request's time): both at or after
    ``since``."""
    pd.testing.assert_frame_equal(df.drop(columns="updated"), one.drop(columns="updated"))
    live = (df["updated"] >= since) & (one["updated"] >= since)
    pd.testing.assert_series_equal(df["updated"][~live], one["updated"][~live])
