"""Write an images frame to CSV (or Parquet) and read it back with its dtypes. Pure.

CSV (RFC 4180: UTF-8, CRLF line ends, quoted fields may hold newlines): the frame's column
order, timestamps as ISO 8601 UTC (``2020-03-14T12:00:00Z``), ``metadata``, ``tags`` (and
any other dict/list cells) as compact JSON (dict keys sorted), booleans ``True``/``False``,
no index. With ``safe=True`` a text cell a spreadsheet would take
for a formula (leading ``=``, ``+``, ``-``, ``@``, tab or carriage return, possibly behind
apostrophes) gets one leading ``'``; :func:`read_csv` removes exactly that apostrophe
again, so the round trip is exact. ``pd.read_csv`` on the file gives the same rows, ids
and values, a neutralised text differing only by the prefix. The frame's ``attrs`` (and so
nothing secret) are never written.

CSV cannot tell an empty text from a missing value, so with ``safe=True`` an empty text
is written as a lone ``'`` (a spreadsheet shows it as empty) and reads back as ``""``,
while a missing value is an empty field and reads back as NA. With ``safe=False`` both
are empty fields and read back as NA.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from imgframe.errors import InvalidQueryError
from imgframe.frame import DTYPES, STRING, TIMESTAMP, ordered_columns
from imgframe.status import STATUS_DTYPE

__all__ = ["json_text", "neutralise", "read_csv", "read_parquet", "to_csv", "to_parquet",
           "unneutralise"]

# what gets one more leading apostrophe: a formula start (behind any apostrophes), or a
# text of apostrophes only (the empty text included)
_FORMULA = r"'*(?:[=+\-@\t\r]|\Z)"
_FORMULA_RE = re.compile(_FORMULA)


def neutralise(text: str) -> str:
    """Prefix ``'`` to a text a spreadsheet would read as a formula (or an empty text).

    >>> neutralise("=HYPERLINK(1)"), neutralise("'=x"), neutralise("'plain"), neutralise("")
    ("'=HYPERLINK(1)", "''=x", "'plain", "'")
    """
    return "'" + text if _FORMULA_RE.match(text) else text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise` exactly.

    >>> unneutralise("'=HYPERLINK(1)"), unneutralise("''=x"), unneutralise("'plain")
    ('=HYPERLINK(1)', "'=x", "'plain")
    >>> unneutralise("'"), unneutralise("''")
    ('', "'")
    """
    return text[1:] if text.startswith("'") and _FORMULA_RE.match(text, 1) else text


def _iso(series: pd.Series) -> pd.Series:
    values = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    whole = bool((values.dropna().dt.microsecond == 0).all()
                 and (values.dropna().dt.nanosecond == 0).all())
    fmt = "%Y-%m-%dT%H:%M:%SZ" if whole else "%Y-%m-%dT%H:%M:%S.%fZ"
    return values.dt.strftime(fmt).astype(object).where(values.notna(), None)


def json_text(value) -> str:
    """A dict or list cell as CSV and Parquet hold it: compact JSON, dict keys sorted.

    >>> json_text({"b": 1, "a": [True, None]})
    '{"a":[true,null],"b":1}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      default=str)


def _json_cell(value):
    if isinstance(value, (dict, list, tuple)):
        return json_text(value)
    return value


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Everything as text or numbers, ready for a text file."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
            out[col] = _iso(series)
        elif series.dtype == object:
            out[col] = pd.Series([_json_cell(v) if v is not None else None for v in series],
                                 index=series.index, dtype=object)
        else:
            out[col] = series
    return pd.DataFrame(out, index=frame.index)


def _map_text(frame: pd.DataFrame, func) -> pd.DataFrame:
    """Apply ``func`` to every text cell of the text-like columns."""
    frame = frame.copy()
    for col in frame.columns:
        series = frame[col]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            values = series.astype(object).tolist()
            changed = [func(v) if isinstance(v, str) else v for v in values]
            if changed != values:
                frame[col] = pd.Series(changed, index=series.index, dtype=object)
    return frame


def _check_safe(safe) -> None:
    if not isinstance(safe, (bool, np.bool_)):
        raise InvalidQueryError("safe", "True (neutralise formula-like texts) or False", safe)


def to_csv(df: pd.DataFrame, path_or_buf=None, *, safe: bool = True):
    """Write ``df`` as UTF-8 CSV (see the module doc); returns the text if no path is given."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError("df", "a pandas DataFrame (e.g. from imgframe.load)",
                                type(df).__name__)
    _check_safe(safe)
    text = _text_columns(df)
    if safe:
        text = _map_text(text, neutralise)
    return text.to_csv(path_or_buf, index=False, encoding="utf-8", lineterminator="\r\n")


def _restore(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        raw = frame[col]
        dtype = DTYPES.get(col, STRING if col.startswith("link_") else None)
        if dtype is None:
            out[col] = raw.astype(STRING) if raw.dtype == object else raw
        elif dtype == np.dtype(object):   # metadata, tags: JSON
            out[col] = pd.Series([None if v is None or v is np.nan or pd.isna(v)
                                  else json.loads(v) for v in raw], dtype=object)
        elif isinstance(dtype, pd.BooleanDtype):
            words = {"True": True, "False": False, None: None}
            odd = next((v for v in raw if v not in words), None)
            if odd is not None:
                raise InvalidQueryError(col, "True, False or empty", odd,
                                        reason="not a boolean written by imgframe.to_csv")
            out[col] = pd.array([words[v] for v in raw], dtype=dtype)
        elif dtype == TIMESTAMP:
            out[col] = pd.to_datetime(raw.astype(object).where(raw.notna(), None),
                                      format="ISO8601", utc=True).dt.as_unit("ns")
        elif dtype == STATUS_DTYPE:
            out[col] = pd.Series(pd.Categorical(raw.where(raw.notna(), None), dtype=dtype))
        elif isinstance(dtype, pd.Int64Dtype):
            out[col] = pd.array(pd.to_numeric(raw.where(raw.notna(), None)), dtype="Int64")
        else:
            out[col] = pd.array(raw.where(raw.notna(), None).tolist(), dtype=dtype)
    return pd.DataFrame(out)


def read_csv(path_or_buf, *, safe: bool = True) -> pd.DataFrame:
    """Read a CSV written by :func:`to_csv`, restoring dtypes and neutralised texts exactly."""
    _check_safe(safe)
    raw = pd.read_csv(path_or_buf, dtype=object, keep_default_na=False, na_values=[""],
                      encoding="utf-8")
    raw = raw.astype(object).where(raw.notna(), None)
    if safe:
        raw = _map_text(raw, unneutralise)
    return _restore(raw)


_JSON_COLUMNS = [c for c, d in DTYPES.items() if d == np.dtype(object)]   # metadata, tags


def to_parquet(df: pd.DataFrame, path) -> None:
    """Write Parquet (needs pyarrow); ``metadata`` and ``tags`` are stored as JSON text (a
    dict whose values have any type has no Parquet type; any reader can parse the text)."""
    frame = df.copy()
    frame.attrs = {}
    for col in _JSON_COLUMNS:
        if col in frame:
            frame[col] = pd.array([None if v is None else json_text(v) for v in frame[col]],
                                  dtype=STRING)
    frame.to_parquet(path, index=False)


def read_parquet(path) -> pd.DataFrame:
    """Read Parquet written by :func:`to_parquet`, with the frame's dtypes."""
    frame = pd.read_parquet(path)
    for col in _JSON_COLUMNS:
        if col in frame:
            frame[col] = pd.Series([None if v is None or pd.isna(v) else json.loads(v)
                                    for v in frame[col]], dtype=object)
    for col, dtype in DTYPES.items():
        if col in frame and col not in _JSON_COLUMNS:
            frame[col] = frame[col].astype(dtype)
    return frame[[c for c in ordered_columns(frame.columns) if c in frame]]
