"""``imgframe.report(df, path)``: one self-contained, interactive HTML file. Pure but for
writing that file (a temporary file beside it, then ``os.replace``).

The page holds the inventory and imgframe's own small front end
(``report_assets/report.js`` and ``report.css``, inlined); it makes no request to any
origin (a strict Content-Security-Policy says so and enforces it), so it opens from disk,
a mail attachment or a file share, offline::

    <meta http-equiv="Content-Security-Policy" content="default-src 'none';
        script-src 'sha256-…'; style-src 'sha256-…'; img-src data:; ...">
    <script type="application/json" id="imgframe-data" data-encoding="gzip+base64">…</script>
    <script>/* report.js */</script>

The data is *columnar*: one entry per column of the frame, in the frame's order, each with
a ``kind`` the browser knows how to show, filter, sort and write as CSV exactly like
:func:`imgframe.to_csv`:

========== ======================================================================
kind       values
========== ======================================================================
string     ``values`` (null = NA), or ``dict`` + ``codes`` (-1 = NA; the dictionary
           sorted the way Python sorts strings), or ``prefix``/``suffix`` around
           the ``id`` column (``link_self`` and friends)
category   ``categories`` + ``codes``
int        ``values`` (numbers, null = NA)
bool       ``values`` (1, 0, null)
datetime   ``values`` in epoch seconds (``unit: "s"``) or microseconds (``"us"``)
text       the finished CSV field text of each cell, produced by ``to_csv`` itself
           (dict/list/object columns, floats, anything else), dictionary-encoded
========== ======================================================================

The JSON is gzip-compressed and base64-encoded when that makes the page smaller (the
browser inflates it with ``DecompressionStream('gzip')``), else embedded as is with
``<``, ``>``, ``&``, U+2028 and U+2029 escaped. Only whitelisted, scalar keys of
``df.attrs["imgframe"]`` reach the page (never a token).
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import html
import io
import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from imgframe import status
from imgframe.errors import InvalidQueryError
from imgframe.export import to_csv
from imgframe.timefmt import utc_stamp
from imgframe.usage_plots import VERDICT_COLORS, scope_summary

__all__ = ["ATTRS_KEYS", "USAGE_COLUMNS", "build_html", "csp_hash", "encode_frame",
           "json_text", "page_html", "report", "with_usage"]

#: The keys of ``df.attrs["imgframe"]`` a report may show; everything else stays out.
ATTRS_KEYS = ("source", "endpoint", "project_id", "api_version", "detail", "pages",
              "requests", "retries", "max_items", "truncated", "partial", "loaded_at",
              "cloud", "region", "usage_scope")
_MAX_ATTR_TEXT = 300
# the scope paragraph ends with what matters ("Scope complete" or what was missing)
_MAX_SCOPE_TEXT = 2000
_SAFE_INT = 2**53 - 1
# compress when the compressed page is at least this much smaller
_COMPRESS_GAIN = 0.9
_SURROGATE = re.compile("[\ud800-\udfff]")


def report(df: pd.DataFrame, path, *, title: str | None = None,
           compress: bool | None = None, usage: pd.DataFrame | None = None) -> Path:
    """Write ``df`` as one self-contained interactive HTML file at ``path``; return it.

    ``compress``: None (gzip when it makes the file smaller), True or False.
    ``usage``: the frame :func:`imgframe.usage` returned for these images: the page gets
    a verdict filter and columns (:func:`with_usage`), and the scope in its header.
    The file appears whole or not at all (written beside it, then renamed).
    """
    path = Path(path)
    if usage is not None:
        df = with_usage(df, usage)
    text = build_html(df, title=title, compress=compress)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# -- usage ------------------------------------------------------------------------------

#: the columns of a usage frame :func:`with_usage` adds to an images frame, in order
USAGE_COLUMNS = ("verdict", "kind", "servers", "volumes", "images", "reasons", "referrers",
                 "parent_server", "orphan")


def with_usage(df: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :data:`USAGE_COLUMNS` of ``usage`` (:func:`imgframe.usage`'s frame),
    matched on ``id`` (``servers``, ``volumes`` and ``images`` as ``used_by_servers``...
    where ``df`` has a column of that name). Images the usage frame does not cover get NA.
    The scope the verdicts rest on goes to ``attrs["imgframe"]["usage_scope"]`` as text."""
    if not isinstance(df, pd.DataFrame) or "id" not in df.columns:
        raise InvalidQueryError("df", "a DataFrame of images with an 'id' column",
                                type(df).__name__)
    if not isinstance(usage, pd.DataFrame) or not {"id", "verdict"} <= set(usage.columns):
        raise InvalidQueryError("usage", "the frame imgframe.usage() returns",
                                type(usage).__name__ if not isinstance(usage, pd.DataFrame)
                                else "a DataFrame without 'id' and 'verdict' columns")
    picked = [c for c in USAGE_COLUMNS if c in usage.columns]
    right = usage[["id", *picked]].drop_duplicates("id").set_index("id")
    at = right.index.get_indexer(df["id"].astype(object))
    out = df.copy()
    for name in picked:
        column = right[name].take(np.where(at < 0, 0, at)) if len(right) else \
            pd.Series([None] * len(df), dtype=right[name].dtype)
        column = column.reset_index(drop=True)
        if (at < 0).any():
            column = column.where(pd.Series(at >= 0), None) if column.dtype == object \
                else column.mask(pd.Series(at < 0))
        label = name if name not in out.columns or name in ("verdict", "reasons") \
            else f"used_by_{name}" if name in ("servers", "volumes", "images") else name
        column.index = out.index
        out[label] = column
    info = dict(df.attrs.get("imgframe", {}) or {}) if isinstance(df.attrs, dict) else {}
    info["usage_scope"] = scope_summary(usage)
    out.attrs = {**df.attrs, "imgframe": info}
    return out


# -- the data ---------------------------------------------------------------------------


def _is_datetime(dtype) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype)


def _nullable(values: np.ndarray, na: np.ndarray) -> list:
    out = values.tolist()
    for i in np.flatnonzero(na).tolist():
        out[i] = None
    return out


def _strings(series: pd.Series, ids: pd.Series | None) -> dict:
    values = series.astype(object)
    na = series.isna().to_numpy()
    present = values[~na]
    if ids is not None and len(present):
        template = _id_template(present.tolist()[0], ids[~na].tolist()[0])
        if template is not None:
            prefix, suffix = template
            if (present == prefix + ids[~na].astype(object) + suffix).all():
                return {"kind": "string", "prefix": prefix, "suffix": suffix,
                        "na": np.flatnonzero(na).tolist()}
    codes, uniques = pd.factorize(values.where(~na, None), sort=True, use_na_sentinel=True)
    if 2 * len(uniques) <= len(values):
        return {"kind": "string", "dict": [str(u) for u in uniques], "codes": codes.tolist()}
    return {"kind": "string", "values": [None if m else str(v) for v, m in
                                         zip(values.tolist(), na.tolist(), strict=True)]}


def _id_template(value: str, ident) -> tuple[str, str] | None:
    ident = str(ident)
    k = value.find(ident) if ident else -1
    return None if k < 0 else (value[:k], value[k + len(ident):])


def _csv_fields(series: pd.Series) -> list[str]:
    """Each cell's finished CSV field text, as ``to_csv`` writes it (not yet quoted)."""
    frame = pd.DataFrame({"c": series.reset_index(drop=True)})
    frame.attrs = {}
    rows = csv.reader(io.StringIO(to_csv(frame), newline=""))
    next(rows)
    return [row[0] if row else "" for row in rows]


def _column(name, series: pd.Series, ids: pd.Series | None) -> dict:
    dtype = series.dtype
    out: dict
    if isinstance(dtype, pd.StringDtype):
        out = _strings(series, None if name == "id" else ids)
    elif isinstance(dtype, pd.CategoricalDtype):
        out = {"kind": "category", "categories": [str(c) for c in dtype.categories],
               "codes": series.cat.codes.to_numpy().tolist()}
    elif _is_datetime(dtype):
        values = series.dt.tz_localize("UTC") if series.dt.tz is None else series
        na = values.isna().to_numpy()
        ns = values.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").view("int64")
        whole = bool((ns[~na] % 1_000_000_000 == 0).all())
        num = ns // 1_000_000_000 if whole else ns // 1000
        out = {"kind": "datetime", "unit": "s" if whole else "us", "values": _nullable(num, na)}
    elif pd.api.types.is_bool_dtype(dtype):
        na = series.isna().to_numpy()
        num = series.fillna(False).to_numpy(dtype=bool).astype(np.int8)
        out = {"kind": "bool", "values": _nullable(num, na)}
    elif pd.api.types.is_integer_dtype(dtype):
        na = series.isna().to_numpy()
        num = series.to_numpy(dtype="int64", na_value=0)
        if len(num) and np.abs(num[~na]).max(initial=0) > _SAFE_INT:
            out = _text(series)
        else:
            out = {"kind": "int", "values": _nullable(num, na)}
    else:
        out = _text(series)
    return {"name": str(name), **out}


def _text(series: pd.Series) -> dict:
    fields = _csv_fields(series)
    codes, uniques = pd.factorize(pd.Series(fields, dtype=object), sort=False)
    if 2 * len(uniques) <= len(fields):
        return {"kind": "text", "dict": list(uniques), "codes": codes.tolist()}
    return {"kind": "text", "values": fields}


def _clean_endpoint(value: str) -> str:
    """An endpoint without user info, query or fragment (where a secret could hide)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def safe_attrs(attrs) -> dict:
    """The whitelisted, scalar keys of ``df.attrs["imgframe"]``, texts shortened."""
    info = attrs.get("imgframe", {}) if isinstance(attrs, dict) else {}
    out = {}
    for key in ATTRS_KEYS:
        value = info.get(key) if isinstance(info, dict) else None
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, str):
            if key == "endpoint":
                value = _clean_endpoint(value)
            out[key] = value[:_MAX_SCOPE_TEXT if key == "usage_scope" else _MAX_ATTR_TEXT]
    return out


def encode_frame(df: pd.DataFrame) -> dict:
    """The frame as the page's columnar dict (see the module doc)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError("df", "a pandas DataFrame (e.g. from imgframe.load)",
                                type(df).__name__)
    if df.columns.has_duplicates:
        raise InvalidQueryError("df", "a frame with unique column names",
                                [c for c in df.columns[df.columns.duplicated()]])
    ids = None
    if "id" in df.columns and isinstance(df["id"].dtype, pd.StringDtype) \
            and not df["id"].isna().any():
        ids = df["id"].astype(object)
    info = safe_attrs(df.attrs)
    complete = not info.get("partial") and not info.get("truncated")
    return {
        "format": 1,
        "rows": len(df),
        "attrs": info,
        "complete": complete,
        "generated_at": utc_stamp(),
        "columns": [_column(name, df[name], ids) for name in df.columns],
    }


def json_text(data: dict) -> str:
    """Compact JSON of ``data`` that is valid UTF-8 (a lone surrogate written escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if _SURROGATE.search(text):  # a lone surrogate cannot be written as UTF-8: escape it
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _escape_script(text: str) -> str:
    """JSON text safe inside ``<script type="application/json">`` (every ``<``, ``>``,
    ``&``, U+2028 and U+2029 escaped; they only occur inside JSON strings)."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def embed(data: dict, compress: bool | None = None) -> tuple[str, str]:
    """``(encoding, text)`` for the data element: ``"json"`` or ``"gzip+base64"``."""
    plain = _escape_script(json_text(data))
    if compress is False:
        return "json", plain
    packed = base64.b64encode(gzip.compress(plain.encode("utf-8"), compresslevel=6,
                                            mtime=0)).decode("ascii")
    if compress or len(packed) < _COMPRESS_GAIN * len(plain.encode("utf-8")):
        return "gzip+base64", packed
    return "json", plain


def _asset(name: str) -> str:
    return resources.files("imgframe").joinpath("report_assets", name).read_text("utf-8")


def csp_hash(text: str) -> str:
    """``'sha256-…'``: a Content-Security-Policy source allowing exactly ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_html(df: pd.DataFrame, *, title: str | None = None,
               compress: bool | None = None) -> str:
    """The report page as text (what :func:`report` writes)."""
    data = encode_frame(df)
    encoding, payload = embed(data, compress)
    info = data["attrs"]
    if title is None:
        where = info.get("project_id") or info.get("endpoint") or ""
        title = f"imgframe report: {len(df):,} images" + (f" ({where})" if where else "")
    return page_html(title, f'data-encoding="{encoding}"', payload)


def page_html(title: str, data_attributes: str, payload: str = "", *,
              connect: bool = False) -> str:
    """The front end around one data element: embedded (the report), or fetched from
    the URLs its ``data-*`` attributes name (the dashboard, with ``connect=True``, which
    lets the page talk to its own origin and nothing else). ``data_attributes`` is
    trusted, already-escaped attribute text. The status words' order and colours come
    from :mod:`imgframe.status` (``data-statuses``), as the charts' do."""
    script, style = _asset("report.js"), _asset("report.css")
    if "</" in script or "</" in style or "<!--" in script:
        raise AssertionError("report assets must not contain '</' or '<!--'")
    csp = ("default-src 'none'; script-src " + csp_hash(script) + "; style-src "
           + csp_hash(style) + "; img-src data:; base-uri 'none'; form-action 'none'"
           + ("; connect-src 'self'" if connect else ""))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="generator" content="imgframe">\n'
        f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        '<noscript>This report needs JavaScript to show the inventory.</noscript>\n'
        '<main id="imgframe-report" class="imgframe-report" data-statuses="'
        f'{html.escape(json_text(status.palette()))}" data-verdicts="'
        f'{html.escape(json_text(VERDICT_COLORS))}">'
        '<p class="imgframe-loading">Loading the inventory…</p></main>\n'
        f'<script type="application/json" id="imgframe-data" {data_attributes}>'
        f"{payload}</script>\n<script>{script}</script>\n</body>\n</html>\n")
