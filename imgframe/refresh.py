"""Bring an inventory up to date cheaply: ``refresh(client, old)`` (also ``client.refresh(old)``).

A source whose ``refresh_strategy`` is ``"changes"`` (Nova's proxy, which has a list view)::

    old (a complete frame, attrs["imgframe"] says its query)
      |  1. changed = load(query, changes_since=newest `updated` in old)    (inclusive: >=)
      |  2. ids     = the list view of the query (id, name, links) (Source.listing_options)
      v  3. merge by id: changed rows, then old rows still listed and not changed; order as
    new      the loader orders (created, id descending). Ids listed but in neither (added
             between 1 and 2) get one more changes-since round; then a full load if needed.

A source whose ``refresh_strategy`` is ``"full"`` (Glance, IMS): they have no list view,
so the only listing that shows removals is the detail listing, which already carries every
changed row: a refresh *is* one full load (sending ``updated_at=gte:`` as well would only
add requests). A version that
typed only the changed rows of that listing was measured slower end to end (the matching
and re-ordering cost more than the typing saved: bench/README.md), so a full load it is,
with ``attrs`` counting what changed against ``old``.

A projected ``old`` (``load(columns=...)``) is refreshed with the same columns; one without
``created`` and ``updated`` (what finding and ordering the changes take) is loaded in full.

The result equals a fresh ``client.load(...)`` of the same query: the same ids, values,
dtypes, columns and order. What was fetched is recorded in ``attrs["imgframe"]["refresh"]``
(``mode``, ``reason`` when it loaded in full, counts and each fetch).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgframe import sources
from imgframe.diff import completeness, query_key
from imgframe.errors import IncompleteSnapshotError, InvalidQueryError
from imgframe.merge import merge_frames
from imgframe.query import parse_time
from imgframe.timefmt import utc_stamp

__all__ = ["load_options", "refresh"]


def load_options(info: dict) -> dict:
    """The ``Client.load`` keywords of the query recorded in ``attrs["imgframe"]``.

    Uses ``info["load_options"]`` when a source records it, else the source reads the
    request parameters in ``info["queries"]`` (``Source.options_from_params``).

    >>> load_options({"detail": True, "queries": [{"status": "queued", "limit": "500"},
    ...                                           {"status": "saving", "limit": "500"}]})
    {'detail': True, 'page_size': 500, 'status': ['SAVING']}
    """
    if isinstance(info.get("load_options"), dict):
        return dict(info["load_options"])
    source = sources.get(info.get("source") or sources.LEGACY)
    opts: dict = {"detail": bool(info.get("detail", True)),
                  **source.options_from_params(info.get("queries") or [])}
    if info.get("max_items") is not None:
        opts["max_items"] = int(info["max_items"])
    return opts


def refresh(client, old: pd.DataFrame, *, progress=False) -> pd.DataFrame:
    """The current state of ``old``'s query, fetching only what changed (see module doc).

    ``old`` must be complete (not truncated, not a partial, not resumed) and come from the
    same endpoint and project as ``client``: else
    :class:`~imgframe.errors.IncompleteSnapshotError` or
    :class:`~imgframe.errors.InvalidQueryError` says why.
    """
    if not isinstance(old, pd.DataFrame):
        raise InvalidQueryError("old", "a DataFrame from imgframe.load or SnapshotStore.load",
                                type(old).__name__)
    reasons = completeness(old, "old")
    if reasons:
        raise IncompleteSnapshotError("cannot refresh: " + "; ".join(reasons) + ". Load it "
                                      "again in full instead", reasons=reasons)
    info = old.attrs["imgframe"]
    key = query_key(info)
    if key["endpoint"] != client.endpoint:
        raise InvalidQueryError("client", f"a client of {key['endpoint']} (where old was "
                                "loaded)", client.endpoint)
    opts = load_options(info)
    source = sources.get(key["source"])
    fetches: list[dict] = []

    def fetch(purpose: str, **extra) -> pd.DataFrame:
        frame = client.load(**dict(opts, **extra), progress=progress)
        got = frame.attrs["imgframe"]
        fetches.append({"purpose": purpose, "rows": len(frame), "detail": got.get("detail"),
                        "requests": got.get("requests", 0), "pages": got.get("pages", 0),
                        "retries": got.get("retries", 0),
                        "queries": got.get("queries", [])})
        return frame

    newest = old["updated"].max() if "updated" in old.columns and len(old) else pd.NaT
    projection = opts.get("columns")
    lacking = [c for c in ("created", "updated") if projection is not None
               and c not in projection]
    full_reason = None
    if not opts.get("detail", True):
        full_reason = "the query is a list view: a full listing is the cheapest refresh"
    elif opts.get("max_items") is not None:
        full_reason = "the query has max_items: only a full load truncates the same way"
    elif lacking:
        full_reason = (f"old was loaded with columns={list(projection)}, without "
                       f"{' and '.join(lacking)}: finding and ordering the changes needs "
                       f"created and updated, so a full load (of those columns)")
    elif pd.isna(newest):
        full_reason = "old has no updated times to refresh from"
    if full_reason:
        new = fetch("full")
        return _finish(new, info, fetches, mode="full", reason=full_reason, since=None,
                       counts={})

    since = pd.Timestamp(newest)
    if opts.get("changes_since") is not None:
        since = max(since, parse_time(opts["changes_since"], "changes_since"))
    if source.refresh_strategy != "changes":
        new = fetch("full")
        return _finish(new, info, fetches, mode="full", since=since,
                       counts=_counts(old, new, since),
                       reason=f"{source.name} has no list view: the only listing that shows "
                       "removals is the detail listing, a full load (typing only the "
                       "changed rows of it was measured slower end to end: bench/README.md)")
    changed = fetch("changed", changes_since=since)
    ids = fetch("listing", **source.listing_options())
    listed = ids["id"]
    changed = changed[_member(changed["id"], listed)]
    unknown = listed[~_member(listed, old["id"]) & ~_member(listed, changed["id"])]
    if len(unknown):       # added or changed between the two fetches: one more round
        again = fetch("changed again", changes_since=since)
        changed = again[_member(again["id"], listed)]
        unknown = unknown[~_member(unknown, changed["id"])]
    if len(unknown):
        new = fetch("full")
        return _finish(new, info, fetches, mode="full", since=since, counts={},
                       reason=f"{len(unknown)} listed images were in neither old nor the "
                       "changes; loaded in full")
    still_listed = _member(old["id"], listed)
    kept = old[still_listed & ~_member(old["id"], changed["id"])]
    kept = kept.reset_index(drop=True)
    kept.attrs = {}
    changed = changed.reset_index(drop=True)
    changed.attrs = {}
    kept = _arrays_like(kept, changed if len(changed) else old)
    new, _ = merge_frames([changed, kept])
    new = _like(new, changed if len(changed) else old)
    counts = {"changed": len(changed), "kept": len(kept), "listed": len(listed),
              "added": int((~_member(changed["id"], old["id"])).sum()),
              "removed": int((~still_listed).sum())}
    return _finish(new, info, fetches, mode="changes", since=since, counts=counts, reason=None)


def _counts(old: pd.DataFrame, new: pd.DataFrame, since: pd.Timestamp) -> dict:
    """What a full load found against ``old``: changed (new ids, or updated at or after
    ``since``), kept, listed, added and removed images."""
    added = ~_member(new["id"], old["id"])
    touched = added | ~(new["updated"] < since).to_numpy(dtype=bool, na_value=False)
    return {"changed": int(touched.sum()), "kept": int((~touched).sum()), "listed": len(new),
            "added": int(added.sum()), "removed": int((~_member(old["id"], new["id"])).sum())}


def _member(ids: pd.Series, of: pd.Series) -> np.ndarray:
    """Which of ``ids`` are among ``of`` (both id columns), as a bool array: Arrow's hash
    set when both hold Arrow strings (pandas' own ``isin`` on them goes through Python
    objects: 0.7 s against 0.01 s for 100,000 ids, and an Index of their Python strings
    takes 0.1-0.2 s), else a hash lookup of their Python strings."""
    if isinstance(ids.array, pd.arrays.ArrowStringArray) \
            and isinstance(of.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa  # Arrow-backed strings: pyarrow is installed
        import pyarrow.compute as pc

        values = pa.array(ids.array)   # no copy: the column's own Arrow data
        table = pa.array(of.array)
        if isinstance(table, pa.ChunkedArray):
            table = table.combine_chunks()
        if table.type != values.type:
            table = table.cast(values.type)
        return pc.is_in(values, value_set=table).to_numpy(zero_copy_only=False)
    values = pd.Series(ids.to_numpy(dtype=object), copy=False)
    return values.isin(of.to_numpy(dtype=object)).to_numpy(dtype=bool)


def _arrays_like(frame: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each string column held in the same array type as ``model``'s, so
    the two concatenate (a frame read back from Parquet holds pyarrow-backed strings,
    a freshly loaded one may hold ``StringArray``: pandas cannot concatenate the two)."""
    out = {}
    for col in frame.columns:
        arr = frame[col].array
        if col in model.columns and isinstance(arr.dtype, pd.StringDtype):
            want = model[col].array
            if type(want) is not type(arr):
                values = np.empty(len(arr), dtype=object)
                values[:] = [None if v is pd.NA or v is None or v != v else v
                             for v in arr.tolist()]
                arr = (pd.arrays.StringArray(values) if isinstance(want, pd.arrays.StringArray)
                       else pd.array(values, dtype=want.dtype))
        out[col] = arr
    result = pd.DataFrame(out, columns=frame.columns)
    result.attrs = {}
    return result


def _like(frame: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``model``'s dtypes wherever they differ (a concat may widen them)."""
    for col in frame.columns:
        if col in model.columns and frame[col].dtype != model[col].dtype:
            frame[col] = frame[col].astype(model[col].dtype)
    return frame


def _finish(new, info, fetches, *, mode, reason, since, counts) -> pd.DataFrame:
    attrs = dict(info)
    last = new.attrs.get("imgframe", {})
    attrs.update({
        "queries": [dict(q) for q in info.get("queries") or ()],
        "pages": sum(f["pages"] for f in fetches),
        "requests": sum(f["requests"] for f in fetches),
        "retries": sum(f["retries"] for f in fetches),
        "truncated": bool(last.get("truncated", False)),
        "loaded_at": utc_stamp(),
        "refresh": {"mode": mode, "reason": reason, "based_on": info.get("loaded_at"),
                    "since": None if since is None else utc_stamp(since),
                    **counts, "fetches": fetches},
    })
    for key in ("partial", "snapshot_id", "taken_at"):
        attrs.pop(key, None)
    new.attrs = {"imgframe": attrs}
    return new
