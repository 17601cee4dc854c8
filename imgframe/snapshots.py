"""A directory of inventory snapshots: ``SnapshotStore(path)``, one Parquet file each.

::

    inventory/
      manifest.json                  what list() reads: one entry per snapshot
      .lock                          flock()ed while the manifest changes (two writers safe)
      snapshots/<id>.parquet         one per snapshot (plus columns snapshot_id, snapshot_taken_at)
      tmp/                           files being written; never read

A snapshot is written to ``tmp/``, fsynced, moved into ``snapshots/`` with ``os.replace``
(atomic), and only then entered in the manifest (itself written to a temporary file,
fsynced and replaced, under the lock). A crash or a full disk mid-write leaves at most a
file in ``tmp/``, which no reader looks at; a snapshot file the manifest does not know
(a crash between the two steps) is complete and is adopted by the next ``save``.

In the files, ``metadata`` (a dict per row) is JSON text and ``tags`` a ``list<string>``, so
DuckDB, polars and ``pd.read_parquet`` read them in place::

    duckdb.sql("SELECT snapshot_taken_at, status, count(*) FROM "
               "read_parquet('inventory/snapshots/*.parquet', union_by_name=true) GROUP BY ALL")

:meth:`SnapshotStore.load` restores the frame exactly (dtypes, lists, dicts, NA) and its
``attrs["imgframe"]`` (token-free), kept in the file's key-value metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from imgframe.diff import completeness, diff, query_key
from imgframe.errors import ImgframeError, InvalidQueryError, redact_url
from imgframe.listing.settings import gc_paused
from imgframe.pages import loads

__all__ = ["SnapshotStore"]

_META_KEY = b"imgframe"
_FORMAT = 1
_EXTRA = ("snapshot_id", "snapshot_taken_at")
_SECRET_KEYS = {"token", "auth_token", "x-auth-token", "password", "secret"}
_PER = {"day": "D", "week": "W"}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, tmp_dir: Path) -> None:
    tmp = tmp_dir / f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _clean_attrs(value):
    """attrs made JSON-safe and token-free (secret-looking keys dropped, URLs redacted)."""
    if isinstance(value, dict):
        return {str(k): _clean_attrs(v) for k, v in value.items()
                if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, (list, tuple)):
        return [_clean_attrs(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return redact_url(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _query_text(key: dict) -> str:
    """A compact, stable text naming a query (what list() shows and load(query=) takes)."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _object_kind(series: pd.Series) -> str:
    """How an object column goes to Parquet: ``json`` (dicts), ``list`` (lists of str)."""
    values = [v for v in series.tolist() if v is not None and not (
        isinstance(v, float) and np.isnan(v))]
    if values and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                      for v in values):
        return "list"
    return "json"


def _dtype_record(dtype) -> dict:
    if isinstance(dtype, pd.CategoricalDtype):
        return {"kind": "category", "categories": [str(c) for c in dtype.categories],
                "ordered": bool(dtype.ordered)}
    if isinstance(dtype, pd.StringDtype):
        return {"kind": "string", "storage": dtype.storage,
                "na": "nan" if dtype.na_value is not pd.NA else "NA"}
    return {"kind": "other", "name": str(dtype)}


def _dtype_from(record: dict):
    if record["kind"] == "category":
        return pd.CategoricalDtype(record["categories"], ordered=record["ordered"])
    if record["kind"] == "string":
        return pd.StringDtype(record["storage"],
                              na_value=np.nan if record.get("na") == "nan" else pd.NA)
    return pd.api.types.pandas_dtype(record["name"])


class SnapshotStore:
    """Snapshots of image frames in a directory (see the module doc for the layout).

    >>> store = SnapshotStore("inventory/")                 # doctest: +SKIP
    >>> sid = store.save(client.load())                     # doctest: +SKIP
    >>> store.list()                                        # doctest: +SKIP
    >>> old, new = store.load(previous=1), store.load()     # doctest: +SKIP
    """

    def __init__(self, path):
        if importlib.util.find_spec("pyarrow") is None:
            raise ImgframeError("SnapshotStore writes Parquet, which needs pyarrow: "
                                "pip install 'imgframe[parquet]'")
        self.path = Path(path)
        self.files = self.path / "snapshots"
        self.tmp = self.path / "tmp"
        self.manifest_path = self.path / "manifest.json"

    def __repr__(self) -> str:
        return f"SnapshotStore({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        for d in (self.path, self.files, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read_manifest(self) -> list[dict]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return list(data.get("snapshots", []))

    def _write_manifest(self, entries: list[dict]) -> None:
        body = json.dumps({"format": _FORMAT, "snapshots": entries}, indent=1,
                          ensure_ascii=False).encode()
        _write_atomic(self.manifest_path, body, self.tmp)

    def save(self, df: pd.DataFrame) -> str:
        """Write ``df`` as a new snapshot (atomically) and return its id."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(df, pd.DataFrame) or "id" not in df.columns:
            raise InvalidQueryError("df", "a DataFrame of images (from imgframe.load)",
                                    type(df).__name__)
        info = _clean_attrs(df.attrs.get("imgframe") or {})
        taken = pd.Timestamp(info.get("loaded_at") or pd.Timestamp.now(tz="UTC"))
        taken = taken.tz_localize("UTC") if taken.tzinfo is None else taken.tz_convert("UTC")
        sid = f"{taken:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        key = query_key(info) if info else {"source": None, "endpoint": None,
                                            "project_id": None, "detail": None,
                                            "filters": None}
        frame = df.reset_index(drop=True)
        kinds, dtypes = {}, {}
        cols = {}
        for col in frame.columns:
            series = frame[col]
            dtypes[col] = _dtype_record(series.dtype)
            if series.dtype == object:
                kinds[col] = _object_kind(series)
                if kinds[col] == "json":
                    cols[col] = pa.array([None if v is None else json.dumps(
                        v, ensure_ascii=False, sort_keys=True, default=str)
                        for v in series.tolist()], type=pa.string())
                else:
                    cols[col] = pa.array([None if not isinstance(v, list) else v
                                          for v in series.tolist()], type=pa.list_(pa.string()))
            else:
                cols[col] = pa.Array.from_pandas(series)
        n = len(frame)
        cols["snapshot_id"] = pa.array([sid] * n, type=pa.string())
        cols["snapshot_taken_at"] = pa.array(np.full(n, taken.as_unit("ns").to_datetime64()),
                                             type=pa.timestamp("ns", tz="UTC"))
        meta = {"format": _FORMAT, "id": sid, "taken_at": taken.isoformat(),
                "attrs": info, "query": key, "complete": not completeness(df),
                "reasons": completeness(df), "object_columns": kinds, "dtypes": dtypes,
                "columns": list(frame.columns), "rows": n}
        table = pa.table(cols).replace_schema_metadata(
            {_META_KEY: json.dumps(meta, ensure_ascii=False).encode()})
        entry = self._entry(meta, f"{sid}.parquet")
        with self._locked():
            tmp = self.tmp / f"{sid}.parquet.{os.getpid()}.tmp"
            try:
                with open(tmp, "wb") as fh:
                    pq.write_table(table, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.files / f"{sid}.parquet")
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            _fsync_dir(self.files)
            entries = self._adopt(self._read_manifest(), skip=entry["file"])
            entry["seq"] = 1 + max([e.get("seq", 0) for e in entries], default=0)
            entries.append(entry)
            self._write_manifest(entries)
        return sid

    @staticmethod
    def _entry(meta: dict, file: str) -> dict:
        key = meta["query"]
        return {"id": meta["id"], "file": file, "taken_at": meta["taken_at"],
                "source": key.get("source"), "endpoint": key.get("endpoint"),
                "project": key.get("project_id"), "query": _query_text(key),
                "rows": meta["rows"], "complete": meta["complete"]}

    def _adopt(self, entries: list[dict], skip: str = "") -> list[dict]:
        """Add snapshot files the manifest lacks (a crash after the move, before the
        manifest); they are complete, since files only arrive there whole."""
        import pyarrow.parquet as pq

        known = {e["file"] for e in entries} | {skip}
        for path in sorted(self.files.glob("*.parquet")):
            if path.name in known:
                continue
            try:
                meta = json.loads(pq.read_schema(path).metadata[_META_KEY])
            except (OSError, KeyError, TypeError, ValueError):
                continue
            entry = self._entry(meta, path.name)
            entry["seq"] = 1 + max([e.get("seq", 0) for e in entries], default=0)
            entries.append(entry)
        return entries

    # -- reading ---------------------------------------------------------------------------

    def list(self, *, source=None, endpoint=None, project=None, query=None) -> pd.DataFrame:
        """The snapshots, oldest first: id, taken_at, source, endpoint, project, query,
        rows, complete. Filter by any of those (``query``: its text, or a frame whose
        query to match)."""
        entries = sorted(self._read_manifest(), key=lambda e: (e["taken_at"], e.get("seq", 0)))
        want = {"source": source, "endpoint": endpoint, "project": project,
                "query": self._query_of(query)}
        entries = [e for e in entries if all(v is None or e.get(k) == v
                                             for k, v in want.items())]
        out = pd.DataFrame({
            "id": pd.array([e["id"] for e in entries], dtype="string"),
            "taken_at": pd.to_datetime([e["taken_at"] for e in entries], utc=True,
                                       format="ISO8601").as_unit("ns"),
            "source": pd.array([e["source"] for e in entries], dtype="string"),
            "endpoint": pd.array([e["endpoint"] for e in entries], dtype="string"),
            "project": pd.array([e["project"] for e in entries], dtype="string"),
            "query": pd.array([e["query"] for e in entries], dtype="string"),
            "rows": pd.array([e["rows"] for e in entries], dtype="Int64"),
            "complete": pd.array([e["complete"] for e in entries], dtype="boolean"),
        })
        return out

    @staticmethod
    def _query_of(query):
        if query is None or isinstance(query, str):
            return query
        if isinstance(query, pd.DataFrame):
            return _query_text(query_key(query.attrs.get("imgframe") or {}))
        if isinstance(query, dict):
            return _query_text(query_key(query))
        raise InvalidQueryError("query", "a query text from list(), a frame or its "
                                "attrs['imgframe']", type(query).__name__)

    def _pick(self, id=None, at=None, query=None, previous: int = 0) -> dict:
        entries = self.list(query=query)
        if id is not None:
            match = entries[entries["id"].to_numpy(dtype=object) == id]
            if match.empty:
                raise ImgframeError(f"no snapshot {id!r} in {self.path} (see "
                                    f"`imgframe snapshot --list` or store.list())")
            return match.iloc[0].to_dict()
        if entries.empty:
            what = " for that query" if query is not None else ""
            raise ImgframeError(f"the store {self.path} has no snapshots{what} yet; save one "
                                f"first (store.save(df) or `imgframe snapshot`)")
        if at is not None:
            from imgframe.query import parse_time

            cutoff = parse_time(at, "at")
            entries = entries[entries["taken_at"] <= cutoff]
            if entries.empty:
                raise ImgframeError(f"no snapshot in {self.path} was taken at or before "
                                    f"{cutoff:%Y-%m-%dT%H:%M:%SZ}")
        if previous >= len(entries):
            raise ImgframeError(f"the store {self.path} has {len(entries)} matching "
                                f"snapshot(s); asked for the one {previous} before the latest")
        return entries.iloc[-1 - previous].to_dict()

    def load(self, at=None, *, id=None, query=None, previous: int = 0) -> pd.DataFrame:
        """The latest snapshot, or the last one taken at or before ``at`` (or ``id``;
        ``previous=1`` the one before), restored exactly with its ``attrs``. ``query``
        narrows to one query when a store holds several (a text from :meth:`list` or a
        frame); when it does not, and the store holds several, the latest one's query
        is used for ``previous``."""
        if query is None and id is None and previous:
            query = self._pick(at=at)["query"]
        entry = self._pick(id=id, at=at, query=query, previous=previous)
        return self._read(self.files / f"{entry['id']}.parquet")

    def _read(self, path: Path) -> pd.DataFrame:
        # the collector paused, as during a load: each row's metadata dict would otherwise
        # wake it, and it walks every dict made so far (87,140 Glance rows: 0.57-0.65 s ->
        # 0.41-0.45 s a read)
        with gc_paused():
            return self._frame_of(path)

    def _frame_of(self, path: Path) -> pd.DataFrame:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[_META_KEY])
        table = table.drop_columns([c for c in _EXTRA if c in table.column_names])
        cols = {}
        for col in meta["columns"]:
            arr = table.column(col)
            kind = meta["object_columns"].get(col)
            if kind == "json":
                values = [None if v is None else loads(v) for v in arr.to_pylist()]
            elif kind == "list":
                values = arr.to_pylist()
            else:
                cols[col] = arr.to_pandas().astype(_dtype_from(meta["dtypes"][col]))
                continue
            obj = np.empty(len(values), dtype=object)
            obj[:] = values
            cols[col] = pd.Series(obj, dtype=object)
        frame = pd.DataFrame(cols, columns=meta["columns"])
        if not len(frame.columns):
            frame = pd.DataFrame(index=range(meta["rows"]))
        attrs = dict(meta["attrs"])
        attrs["snapshot_id"] = meta["id"]
        attrs["taken_at"] = meta["taken_at"]
        frame.attrs = {"imgframe": attrs}
        return frame

    # -- over time -------------------------------------------------------------------------

    def history(self, by: str | None = "status", *, query=None) -> pd.DataFrame:
        """Tidy counts over snapshots: ``taken_at, snapshot_id, [by], images``.

        ``by``: any column (``status``, ``visibility``, ``disk_format``...), or ``None``
        for one total per snapshot. Only that column is read from each file.
        """
        import pyarrow.parquet as pq

        rows = []
        for entry in self.list(query=query).itertuples():
            path = self.files / f"{entry.id}.parquet"
            if by is None:
                rows.append({"taken_at": entry.taken_at, "snapshot_id": entry.id,
                             "images": int(entry.rows)})
                continue
            names = pq.read_schema(path).names
            if by not in names:
                raise InvalidQueryError("by", "a column of the snapshots",
                                        by, reason=f"snapshot {entry.id} has no such column")
            column = pq.read_table(path, columns=[by]).column(by)
            kinds = json.loads(pq.read_schema(path).metadata[_META_KEY])["object_columns"]
            if by in kinds:          # dicts and lists are counted by their JSON text
                values = pd.Series([v if v is None or kinds[by] == "json" else json.dumps(v)
                                    for v in column.to_pylist()], dtype=object)
            else:
                values = column.to_pandas()
            if isinstance(values.dtype, pd.CategoricalDtype):     # every category, in order
                counts = values.value_counts(dropna=False, sort=False)
            else:
                counts = values.astype(object).where(values.notna(), None).value_counts(
                    dropna=False, sort=False)
                counts = counts.iloc[np.argsort([str(v) for v in counts.index], kind="stable")]
            for value, n in counts.items():
                rows.append({"taken_at": entry.taken_at, "snapshot_id": entry.id,
                             by: value, "images": int(n)})
        columns = ["taken_at", "snapshot_id"] + ([by] if by else []) + ["images"]
        out = pd.DataFrame(rows, columns=columns)
        out["taken_at"] = pd.to_datetime(out["taken_at"], utc=True).dt.as_unit("ns")
        out["images"] = out["images"].astype("int64")
        return out      # in list() order (taken_at, then order of saving)

    def changes(self, *, query=None) -> pd.DataFrame:
        """Added, removed and modified images between consecutive snapshots of one query:
        ``taken_at`` (of the later one), ``previous``, ``snapshot_id``, ``added``,
        ``removed``, ``modified``. Pairs that are not both complete are skipped."""
        listing = self.list(query=query)
        if query is None and listing["query"].nunique() > 1:
            listing = listing[listing["query"] == listing["query"].iloc[-1]]
        rows = []
        previous = None
        for entry in listing.itertuples():
            frame = self._read(self.files / f"{entry.id}.parquet")
            if previous is not None:
                try:
                    counts = diff(previous[1], frame).attrs["imgframe_diff"]["counts"]
                except ImgframeError:
                    counts = None
                if counts is not None:
                    rows.append({"taken_at": entry.taken_at, "previous": previous[0],
                                 "snapshot_id": entry.id, **counts})
            previous = (entry.id, frame)
        out = pd.DataFrame(rows, columns=["taken_at", "previous", "snapshot_id", "added",
                                          "removed", "modified"])
        out["taken_at"] = pd.to_datetime(out["taken_at"], utc=True).dt.as_unit("ns")
        for col in ("added", "removed", "modified"):
            out[col] = out[col].astype("int64")
        return out

    def prune(self, keep_last: int | None = None, per: str | None = None) -> list[str]:
        """Delete old snapshots, per query; returns the ids deleted.

        ``keep_last=N`` keeps the newest N; ``per="day"``/``"week"`` keeps the newest of
        each UTC day/week. Both together keep the union. Neither: nothing is deleted.
        """
        from imgframe.query import check_int

        if keep_last is not None:
            keep_last = check_int(keep_last, "keep_last", minimum=1)
        if per is not None and per not in _PER:
            raise InvalidQueryError("per", "'day' or 'week'", per)
        if keep_last is None and per is None:
            return []
        with self._locked():
            entries = sorted(self._read_manifest(),
                             key=lambda e: (e["taken_at"], e.get("seq", 0)))
            keep = set()
            by_query: dict[str, list] = {}
            for e in entries:
                by_query.setdefault(e["query"], []).append(e)
            for group in by_query.values():
                if keep_last is not None:
                    keep.update(e["id"] for e in group[-keep_last:])
                if per is not None:
                    periods = {}
                    for e in group:
                        ts = pd.Timestamp(e["taken_at"]).tz_convert(None)
                        periods[ts.to_period(_PER[per])] = e["id"]   # the newest wins
                    keep.update(periods.values())
            gone = [e for e in entries if e["id"] not in keep]
            self._write_manifest([e for e in entries if e["id"] in keep])
            for e in gone:
                with contextlib.suppress(FileNotFoundError):
                    (self.files / e["file"]).unlink()
        return [e["id"] for e in gone]
