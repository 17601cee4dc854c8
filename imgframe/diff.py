"""What changed between two inventories: one row per added, removed or modified image. Pure.

::

    diff(old, new)  ->  id | name | status | change | changed | old | new
                        (one row per image that differs; unchanged images are not listed)

``change`` is a category (``added``, ``removed``, ``modified``); ``changed`` the list of
column names whose values differ (empty for added/removed); ``old``/``new`` are dicts
``{column: value}`` holding just those columns, values as the frames hold them (a
``Timestamp``, a list, a dict; NA as ``None``). One row per image (not one per changed
cell) keeps the question "which images changed" a plain filter, and the dicts are readable
in a notebook and as JSON in the CSV ``imgframe.to_csv`` writes; ``diff_long`` gives one row
per changed cell for programs that prefer that.

Values compare per dtype: NA equals NA, lists and dicts compare by value, categoricals by
their labels. Only the columns both frames have are compared (``columns=`` narrows it);
the result's ``attrs["imgframe_diff"]`` records what was compared.

**Never a false "removed".** Both sides must be complete (not truncated by ``max_items``,
not the ``partial`` of a failed load) and of the same query (source, endpoint, project,
detail and the filters sent). Otherwise :class:`~imgframe.errors.IncompleteSnapshotError`
says why; ``allow_incomplete=True`` compares anyway and then reports no removals.

**Like with like.** A projected frame (``load(columns=...)``, ``attrs["imgframe"]["columns"]``)
is compared only with a frame of the same projection: against a full frame, or another
projection, :class:`~imgframe.errors.IncompleteSnapshotError` says so in one line, even
with ``allow_incomplete=True`` (its columns are missing by choice, not by accident).

**Frames of many sources** (:func:`imgframe.load_many`, ``source="many"``): images are
matched by ``(cloud, region, id)``, and a source missing or truncated on either side
(``attrs["imgframe"]["incomplete_sources"]``) does not stop the diff: its images are never
reported as removed (``attrs["imgframe_diff"]["removals_skipped_for"]`` names them); the
other sources' removals are reported.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from imgframe import sources
from imgframe.errors import ImgframeError, IncompleteSnapshotError, InvalidQueryError

__all__ = ["CHANGES", "completeness", "diff", "diff_long", "diff_summary", "incomplete_sources",
           "projection_mismatch", "query_key"]

#: The values of the ``change`` column, in its category order.
CHANGES = ("added", "removed", "modified")
CHANGE_DTYPE = pd.CategoricalDtype(list(CHANGES))
_PAGING = ("limit",)   # request parameters that do not change what is listed


def _info(df: pd.DataFrame) -> dict:
    info = df.attrs.get("imgframe")
    return info if isinstance(info, dict) else {}


def query_key(info: dict) -> dict:
    """The part of ``attrs["imgframe"]`` that says *what* was listed (not how or when).

    Source, endpoint, project, detail and the filters sent (each request's parameters
    without paging), and the projection (``columns``) when there is one. Two frames with
    equal keys list the same images, with the same columns.

    >>> query_key({"endpoint": "http://h/v2.1/p", "project_id": "p", "detail": True,
    ...            "queries": [{"status": "active", "limit": "1000"}]})["filters"]
    [{'status': 'active'}]
    """
    projection = {} if info.get("columns") is None else {"columns": list(info["columns"])}
    if info.get("source") == "many":
        return {"source": "many", "endpoint": None, "project_id": None,
                "detail": info.get("detail"),
                "filters": json.loads(json.dumps(
                    {"given": info.get("filters"),
                     "sources": [[e.get("key"), e.get("cloud"), e.get("region")]
                                 for e in info.get("sources") or ()]},
                    sort_keys=True, default=str)), **projection}
    sent = [{k: v for k, v in q.items() if k not in _PAGING}
            for q in info.get("queries") or ()]
    # the filters as given (where recorded) and as sent: both must agree
    filters = sent if info.get("filters") is None else {"given": info["filters"], "sent": sent}
    return {
        "source": info.get("source", sources.LEGACY),
        "endpoint": info.get("endpoint"),
        "project_id": info.get("project_id"),
        "detail": info.get("detail"),
        "filters": json.loads(json.dumps(filters, sort_keys=True, default=str)),
        **projection,
    }


def projection_mismatch(old: dict, new: dict) -> str | None:
    """Why frames of these ``attrs["imgframe"]`` cannot be compared column for column (one
    of them projected, ``load(columns=...)``, and the other not, or otherwise), or None.

    >>> projection_mismatch({"columns": ["id", "size"]}, {})[:70]
    "cannot diff: old was loaded with columns=['id', 'size'] and new with e"
    """
    a, b = old.get("columns"), new.get("columns")
    if a == b:
        return None

    def said(cols) -> str:
        return "every column" if cols is None else f"columns={list(cols)}"

    return (f"cannot diff: old was loaded with {said(a)} and new with {said(b)}; compare "
            f"frames loaded with the same columns=")


def incomplete_sources(df: pd.DataFrame) -> list[dict]:
    """The sources of a :func:`imgframe.load_many` frame that are missing or truncated
    (their ``attrs["imgframe"]["sources"]`` entries); empty for any other frame."""
    info = _info(df)
    return [e for e in info.get("sources") or () if not e.get("complete", True)]


def completeness(df: pd.DataFrame, name: str = "frame", *,
                 per_source: bool = True) -> list[str]:
    """Why ``df`` may not hold every image its query matches (empty list: complete).

    ``per_source=False`` leaves out the sources a many-source frame lacks.

    >>> completeness(pd.DataFrame({"id": []}))
    ["frame has no attrs['imgframe'] (not from imgframe.load or a SnapshotStore), so it is \
unknown whether it is complete"]
    """
    info = _info(df)
    if not info:
        return [f"{name} has no attrs['imgframe'] (not from imgframe.load or a SnapshotStore), "
                f"so it is unknown whether it is complete"]
    reasons = []
    if info.get("truncated"):
        reasons.append(f"{name} was truncated by max_items={info.get('max_items')}")
    if info.get("partial"):
        reasons.append(f"{name} is the partial result of a load that failed")
    if any("marker" in q for q in info.get("queries") or ()):
        reasons.append(f"{name} was resumed from a marker, so it lacks the images before it")
    if per_source:
        for e in incomplete_sources(df):
            why = (f"{e['error']['type']}: {e['error']['message']}" if e.get("error")
                   else "truncated by max_items")
            reasons.append(f"{name} lacks source {e.get('key')!r} ({why})")
    return reasons


def _many(old, new) -> bool:
    return all(_info(df).get("source") == "many" and "cloud" in df.columns
               for df in (old, new))


def _labels(df: pd.DataFrame, with_id: bool = True) -> np.ndarray:
    """One key per row: cloud, region (and id) joined (the match key of many frames)."""
    parts = [df["cloud"].astype(object).fillna(""), df["region"].astype(object).fillna("")
             if "region" in df.columns else pd.Series([""] * len(df), dtype=object)]
    if with_id:
        parts.append(df["id"].astype(object))
    out = parts[0].astype(str).to_numpy(dtype=object)
    for p in parts[1:]:
        out = out + "\x1f" + p.astype(str).to_numpy(dtype=object)
    return out


def _check_frames(old, new, many: bool = False) -> None:
    for label, df in (("old", old), ("new", new)):
        if not isinstance(df, pd.DataFrame):
            raise InvalidQueryError(label, "a DataFrame of images (imgframe.load, "
                                    "SnapshotStore.load)", type(df).__name__)
        if "id" not in df.columns:
            raise InvalidQueryError(label, "a frame with an 'id' column",
                                    f"columns {list(df.columns)[:6]}")
        if df["id"].isna().any():
            raise ImgframeError(f"{label} has images without an id; they cannot be matched")
        if many:
            continue
        dup = df["id"][df["id"].duplicated()]
        if len(dup):
            raise ImgframeError(f"{label} holds id {dup.iloc[0]!r} more than once; "
                                f"diff matches images by id")


def _na(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return False


def _same(a, b) -> bool:
    """Value equality for one cell: NA == NA, containers by value, never raises."""
    a_na, b_na = _na(a), _na(b)
    if a_na or b_na:
        return a_na and b_na
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if isinstance(b, np.ndarray):
        b = b.tolist()
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Boolean mask: where two aligned columns hold different values."""
    if a.dtype == b.dtype and a.dtype != object and not isinstance(a.dtype,
                                                                    pd.CategoricalDtype):
        a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
        try:
            ne = (a.to_numpy() != b.to_numpy())
            ne = np.asarray(pd.array(ne, dtype="boolean").fillna(False), dtype=bool)
        except (TypeError, ValueError):
            ne = np.array([not _same(x, y) for x, y in zip(a, b, strict=True)], dtype=bool)
        return (ne & ~(a_na & b_na)) | (a_na != b_na)
    left = a.astype(object).tolist()
    right = b.astype(object).tolist()
    return np.array([not _same(x, y) for x, y in zip(left, right, strict=True)], dtype=bool)


def _plain(value):
    """A cell as a plain value for the old/new dicts (NA -> None, arrays -> lists)."""
    if _na(value):
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def diff(old: pd.DataFrame, new: pd.DataFrame, *, allow_incomplete: bool = False,
         columns=None) -> pd.DataFrame:
    """One row per image added, removed or modified from ``old`` to ``new`` (see module doc).

    Rows: added and modified images in ``new``'s order, then removed ones in ``old``'s.
    ``columns``: compare only these (default: every column both frames have).
    """
    many = all(isinstance(df, pd.DataFrame) for df in (old, new)) and _many(old, new)
    _check_frames(old, new, many)
    if not isinstance(allow_incomplete, bool):
        raise InvalidQueryError("allow_incomplete", "True or False", allow_incomplete)
    mismatch = projection_mismatch(_info(old), _info(new))
    if mismatch:
        raise IncompleteSnapshotError(mismatch, reasons=[mismatch])
    reasons = completeness(old, "old", per_source=not many) \
        + completeness(new, "new", per_source=not many)
    skipped = sorted({e.get("key") for df in (old, new) for e in incomplete_sources(df)}) \
        if many else []
    old_key, new_key = query_key(_info(old)), query_key(_info(new))
    if _info(old) and _info(new) and old_key != new_key:
        what = [k for k in old_key if old_key[k] != new_key[k]]
        reasons.append("the two were not listed by the same query (" + "; ".join(
            f"{k}: {old_key[k]!r} vs {new_key[k]!r}" for k in what) + ")")
    if reasons and not allow_incomplete:
        raise IncompleteSnapshotError(
            "cannot diff: " + "; ".join(reasons) + ". An image missing from an incomplete "
            "frame is not a removal; pass allow_incomplete=True to compare anyway (then no "
            "removals are reported)", reasons=reasons)
    common = [c for c in old.columns if c in new.columns and c != "id"]
    if columns is not None:
        wanted = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in wanted if c not in common]
        if unknown:
            raise InvalidQueryError("columns", f"columns both frames have: {', '.join(common)}",
                                    columns, reason=f"{unknown[0]!r} is not one of them")
        common = [c for c in common if c in wanted]

    old_ids = old["id"].astype(object).to_numpy()
    new_ids = new["id"].astype(object).to_numpy()
    old_keys, new_keys = (_labels(old), _labels(new)) if many else (old_ids, new_ids)
    for label, keys in (("old", old_keys), ("new", new_keys)):
        dup = pd.Index(keys)[pd.Index(keys).duplicated()]
        if many and len(dup):
            raise ImgframeError(f"{label} holds image {dup[0]!r} more than once; diff "
                                f"matches images by cloud, region and id")
    old_pos = pd.Index(old_keys)
    in_old = old_pos.get_indexer(new_keys)                # -1: added
    added = np.flatnonzero(in_old < 0)
    both_new = np.flatnonzero(in_old >= 0)
    both_old = in_old[both_new]
    removed = np.flatnonzero(~pd.Index(old_keys).isin(new_keys)) if not reasons else \
        np.array([], dtype=np.int64)
    if many and skipped and len(removed):
        gone = {_labels(pd.DataFrame({"cloud": [e.get("cloud")], "region": [e.get("region")]}),
                        with_id=False)[0]
                for df in (old, new) for e in incomplete_sources(df)}
        where = _labels(old, with_id=False)
        removed = np.array([j for j in removed if where[j] not in gone], dtype=np.int64)

    masks = {}
    for col in common:
        a = old[col].iloc[both_old].reset_index(drop=True)
        b = new[col].iloc[both_new].reset_index(drop=True)
        masks[col] = _differs(a, b)
    any_change = np.zeros(len(both_new), dtype=bool)
    for mask in masks.values():
        any_change |= mask
    modified = np.flatnonzero(any_change)

    rows_new = np.sort(np.concatenate([added, both_new[modified]]))
    kinds = {int(i): "added" for i in added}
    partner = {int(both_new[m]): (int(both_old[m]), int(m)) for m in modified}
    records = []
    for i in rows_new.tolist():
        if i in kinds:
            records.append((new_ids[i], _label(new, i, "name"), _label(new, i, "status"),
                            "added", [], {}, {}))
            continue
        j, m = partner[i]
        changed = [c for c in common if masks[c][m]]
        records.append((new_ids[i], _label(new, i, "name"), _label(new, i, "status"),
                        "modified", changed,
                        {c: _plain(old[c].iloc[j]) for c in changed},
                        {c: _plain(new[c].iloc[i]) for c in changed}))
    for j in removed.tolist():
        records.append((old_ids[j], _label(old, j, "name"), _label(old, j, "status"),
                        "removed", [], {}, {}))
    out = _result(records, new)
    if many:
        clouds, regions = [], []
        for i in rows_new.tolist():
            clouds.append(new["cloud"].iloc[i])
            regions.append(new["region"].iloc[i])
        for j in removed.tolist():
            clouds.append(old["cloud"].iloc[j])
            regions.append(old["region"].iloc[j])
        out.insert(1, "cloud", pd.array(clouds, dtype=pd.StringDtype()))
        out.insert(2, "region", pd.array(regions, dtype=pd.StringDtype()))
    out.attrs["imgframe_diff"] = {
        "old": _side(old), "new": _side(new), "columns": common,
        "only_in_old": [c for c in old.columns if c not in new.columns],
        "only_in_new": [c for c in new.columns if c not in old.columns],
        "complete": not reasons and not skipped, "reasons": reasons,
        "removals_reported": not reasons, "removals_skipped_for": skipped,
        "counts": {k: sum(1 for r in records if r[3] == k) for k in CHANGES},
    }
    return out


def _label(df: pd.DataFrame, i: int, col: str):
    return _plain(df[col].iloc[i]) if col in df.columns else None


def _side(df: pd.DataFrame) -> dict:
    info = _info(df)
    return {"rows": len(df), "loaded_at": info.get("loaded_at"),
            "snapshot_id": info.get("snapshot_id"), "query": query_key(info) if info else None}


def _result(records: list, new: pd.DataFrame) -> pd.DataFrame:
    cols = list(zip(*records, strict=True)) if records else [[] for _ in range(7)]

    def objects(values):
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
        return arr

    status_dtype = (new["status"].dtype if "status" in new.columns
                    and isinstance(new["status"].dtype, pd.CategoricalDtype) else "string")
    return pd.DataFrame({
        "id": pd.array(list(cols[0]), dtype=pd.StringDtype()),
        "name": pd.array(list(cols[1]), dtype=pd.StringDtype()),
        "status": pd.Series(list(cols[2]), dtype=object).astype(status_dtype),
        "change": pd.Categorical(list(cols[3]), dtype=CHANGE_DTYPE),
        "changed": objects(cols[4]),
        "old": objects(cols[5]),
        "new": objects(cols[6]),
    })


def diff_long(d: pd.DataFrame) -> pd.DataFrame:
    """One row per changed cell of a :func:`diff` result: ``id, column, old, new``."""
    rows = [(i, c, o.get(c), n.get(c))
            for i, cs, o, n in zip(d["id"], d["changed"], d["old"], d["new"], strict=True)
            for c in cs]
    out = pd.DataFrame(rows, columns=["id", "column", "old", "new"], dtype=object)
    out["id"] = out["id"].astype(pd.StringDtype())
    out["column"] = out["column"].astype(pd.StringDtype())
    return out


def diff_summary(d: pd.DataFrame, by: str | None = "status") -> pd.DataFrame:
    """Counts of a :func:`diff` result per change (and per ``by``, e.g. ``status``), tidy.

    Every change appears, with 0 when none; ``by=None`` gives one row per change.
    """
    if not isinstance(d, pd.DataFrame) or "change" not in d.columns:
        raise InvalidQueryError("d", "the frame imgframe.diff returns", type(d).__name__)
    if by is None:
        counts = d["change"].astype(CHANGE_DTYPE).value_counts(sort=False)
        return pd.DataFrame({"change": pd.Categorical(list(CHANGES), dtype=CHANGE_DTYPE),
                             "images": counts.reindex(list(CHANGES), fill_value=0)
                             .to_numpy(dtype="int64")})
    if by not in d.columns:
        raise InvalidQueryError("by", f"a column of the diff: {', '.join(d.columns)}", by)
    grouped = (d.assign(change=d["change"].astype(CHANGE_DTYPE))
               .groupby(["change", by], observed=False, dropna=False).size())
    out = grouped.rename("images").reset_index()
    out["images"] = out["images"].astype("int64")
    return out
