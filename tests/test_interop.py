"""Every frame imgframe produces is plain pandas: the everyday operations work on it.

One list of producers (:data:`PRODUCERS`), one list of operations (:data:`OPERATIONS`);
every pair is a test case. A new producer (a source, a snapshot reader, a diff) is added
to ``PRODUCERS`` and gets every operation checked. Runs with pyarrow installed (string
columns stored in Arrow) and without it (Python-object storage): ``make test`` runs this
module in both environments (``IMGFRAME_EXPECT_PYARROW`` says which one this is).

Why this module exists (issue 9): pandas 3's ``StringArray(values)`` over an object array
takes the default string dtype, which says *pyarrow* storage when pyarrow is installed,
while the array holds Python objects. Such columns looked right (``df.dtypes`` said
``string``) and passed every per-column test, but ``merge``, ``concat`` and ``isin``
raised AttributeError/AssertionError as soon as they met a correctly built string column.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import imgframe
from imgframe.errors import PaginationError
from imgframe.merge import merge_frames
from imgframe.server import Faults, ImageServer

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None
requires_pyarrow = pytest.mark.skipif(not HAVE_PYARROW, reason="Parquet needs pyarrow")


def test_environment_is_the_one_ci_asked_for():
    """CI runs this module twice; each run must really be the environment it claims."""
    expected = os.environ.get("IMGFRAME_EXPECT_PYARROW")
    if expected is None:
        pytest.skip("not told which environment this is (set by make test)")
    assert HAVE_PYARROW == (expected == "1")
    storage = pd.StringDtype().storage
    assert storage == ("pyarrow" if HAVE_PYARROW else "python")


# -- producers ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(module_image_server):
    return module_image_server(400, seed=11, token="t")


@pytest.fixture(scope="module")
def client(server):
    return imgframe.Client(server.url, server.project_id, token="t", retries=0)


def _detail(c, srv):
    return c.load(progress=False)


def _list_view(c, srv):
    return c.load(detail=False, progress=False)


def _empty(c, srv):
    return c.load(name="no such image", progress=False)


def _empty_list_view(c, srv):
    return c.load(name="no such image", detail=False, progress=False)


def _fan_out(c, srv):
    return c.load(status=["SAVING", "UNKNOWN"], progress=False)


def _pinned_list(c, srv):
    return c.load(status="SAVING", detail=False, progress=False)


def _page(c, srv):
    return next(iter(c.iter_pages(page_size=50)))


def _partial(c, srv):
    with ImageServer(srv.images[:120], token="t", faults=Faults(schedule={3: 500})) as bad:
        broken = imgframe.Client(bad.url, bad.project_id, token="t", retries=0)
        with pytest.raises(imgframe.ImgframeError) as info:
            broken.load(page_size=40, progress=False)
    assert info.value.partial is not None and len(info.value.partial) == 80
    return info.value.partial


def _csv(c, srv):
    buf = io.StringIO(imgframe.to_csv(_detail(c, srv)))
    return imgframe.read_csv(buf)


def _parquet(c, srv, tmp=None):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.parquet")
        imgframe.export.to_parquet(_detail(c, srv), path)
        return imgframe.export.read_parquet(path)


def _trend(c, srv):
    return imgframe.changes_since_trend(c, start="2025-06-01", end="2026-10-01", freq="M")


def _status_counts(c, srv):
    return _detail(c, srv).images.status_counts().rename("images").reset_index()


def _changes(c, srv):
    return _detail(c, srv).images.changes(freq="M", by="status")


def _changed_since(c, srv):
    return _detail(c, srv).images.changed_since(["2025-01-01", "2026-01-01"])


def _metadata_frame(c, srv):
    return _detail(c, srv).images.metadata_frame()


def _merged_frames(c, srv):
    """The frame builder's own merge (what status fan-outs go through)."""
    return merge_frames([_pinned_list(c, srv), _list_view(c, srv)])[0]


def _many(c, srv):
    """load_many over the same server twice, plus cloud/region/project_id. (Nova twice:
    plain ``df.to_parquet`` cannot infer one Arrow struct for Nova's and Glance's metadata
    dicts mixed; imgframe's own to_parquet writes them as JSON.)"""
    return imgframe.load_many({"east": c, "west": c})


def _many_partial(c, srv):
    down = imgframe.Client("http://127.0.0.1:1", "p", token="t", retries=0)
    with pytest.raises(imgframe.PartialLoadError) as info:
        imgframe.load_many({"nova": c, "down": down})
    return info.value.partial


def _glance(c, srv):
    return imgframe.Client(srv.glance_endpoint, source="glance", token="t",
                           retries=0).load(progress=False)


def _snapshot_load(c, srv):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = imgframe.SnapshotStore(d)
        store.save(_glance(c, srv))
        return store.load()


def _refresh(c, srv):
    """A Nova refresh (changed rows merged with old ones) over a stored snapshot."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = imgframe.SnapshotStore(d)
        store.save(_detail(c, srv))
        return c.refresh(store.load())


def _glance_refresh(c, srv):
    """A Glance refresh: old rows (from Parquet) and freshly typed ones, one frame."""
    import tempfile

    glance = imgframe.Client(srv.glance_endpoint, source="glance", token="t", retries=0)
    with tempfile.TemporaryDirectory() as d:
        store = imgframe.SnapshotStore(d)
        store.save(glance.load(progress=False))
        srv.update_image(srv.images[0]["id"], name=srv.images[0]["name"])  # a changed row
        return glance.refresh(store.load())


def _diff(c, srv):
    old = _glance(c, srv)
    new = old.copy()
    new.attrs = copy.deepcopy(old.attrs)
    new.loc[0, "name"] = "renamed"
    new = new.drop(index=[1, 2]).reset_index(drop=True)
    return imgframe.diff(old, new)


#: name -> function(client, server) -> DataFrame. Add new producers here.
PRODUCERS = {
    "detail": _detail,
    "list_view": _list_view,
    "empty": _empty,
    "empty_list_view": _empty_list_view,
    "status_fan_out": _fan_out,
    "pinned_list_view": _pinned_list,
    "iter_pages_page": _page,
    "partial_on_error": _partial,
    "read_csv": _csv,
    "read_parquet": _parquet,
    "changes_since_trend": _trend,
    "status_counts": _status_counts,
    "changes": _changes,
    "changed_since": _changed_since,
    "metadata_frame": _metadata_frame,
    "merge_frames": _merged_frames,
    "load_many": _many,
    "load_many_partial": _many_partial,
    "glance": _glance,
    "snapshot_load": _snapshot_load,
    "refresh": _refresh,
    "glance_refresh": _glance_refresh,
    "diff": _diff,
}

_cache: dict[str, pd.DataFrame] = {}


#: producers that need pyarrow (skipped, with the reason, where it is not installed)
NEEDS_PYARROW = {"read_parquet", "snapshot_load", "refresh", "glance_refresh"}


@pytest.fixture(params=[pytest.param(f, id=k, marks=[requires_pyarrow] if k in NEEDS_PYARROW
                                     else []) for k, f in PRODUCERS.items()])
def frame(request, client, server):
    produce = request.param
    key = produce.__name__
    if key not in _cache:
        _cache[key] = produce(client, server)
    return _cache[key].copy()


@pytest.fixture(scope="module")
def detail(client, server):
    return _detail(client, server)


# -- what every producer must hold ----------------------------------------------------------

def _string_columns(df):
    return [c for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)]


def test_string_arrays_match_their_dtype(frame):
    for col in _string_columns(frame):
        dtype = frame[col].dtype
        expected = (pd.arrays.ArrowStringArray if dtype.storage == "pyarrow"
                    else pd.arrays.StringArray)
        assert type(frame[col].array) is expected, (col, type(frame[col].array), dtype)
        assert dtype == pd.StringDtype(), (col, dtype)   # pandas' default "string" dtype


def _plain_like(df: pd.DataFrame) -> pd.DataFrame:
    """The same values rebuilt the way a user would build them, with plain pandas."""
    out = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, (pd.StringDtype, pd.CategoricalDtype)) or s.dtype == object:
            out[col] = pd.array(s.astype(object).tolist(), dtype=s.dtype)
        else:
            out[col] = s.to_numpy(copy=True) if not hasattr(s, "array") else s.array.copy()
    return pd.DataFrame(out)


def _key(df: pd.DataFrame) -> str:
    for col in ("id", "period", "cutoff", "status", "key"):
        if col in df.columns and not df[col].dtype == object:
            return col
    typed = [c for c in df.columns if df[c].dtype != object]
    if not typed:
        # metadata_frame: values as sent, so every column is object; it joins on the index
        # (see test_metadata_frame_joins_on_the_index)
        pytest.skip("only object columns (values as sent): no typed key to operate on")
    return typed[0]


def _hashable(df: pd.DataFrame) -> list[str]:
    typed = [c for c in df.columns if df[c].dtype != object]
    if not typed:
        _key(df)  # skips, saying why
    return typed


def op_merge_self(df):
    key = _key(df)
    cols = [key] + [c for c in _string_columns(df) if c != key][:2]
    out = df.merge(df[cols], on=key, how="left", suffixes=("", "_r"))
    if df[key].is_unique:
        assert len(out) == len(df)


def op_merge_other_imgframe(df, detail):
    if "id" not in df.columns:
        pytest.skip("no id column to join on")
    out = df.merge(detail[["id", "name", "status"]], on="id", how="inner",
                   suffixes=("", "_d"))
    assert set(out["id"]) == set(df["id"]) & set(detail["id"])


def op_merge_plain_pandas(df):
    key = _key(df)
    plain = pd.DataFrame({key: pd.Series(df[key].astype(object).tolist(), dtype=df[key].dtype),
                          "tag": np.arange(len(df))})
    out = df.merge(plain, on=key, how="left")
    assert len(out) >= len(df.drop_duplicates(key))


def op_merge_user_strings(df):
    """A user's own frame with string keys, built by pandas' default constructor."""
    if not _string_columns(df):
        pytest.skip("no string column")
    col = _string_columns(df)[0]
    values = df[col].dropna().astype(str).tolist()[:10]
    user = pd.DataFrame({col: pd.array(values, dtype="string"), "note": "x"})
    out = df.merge(user, on=col, how="inner")
    assert set(out[col]) == set(values)


def op_join(df):
    key = _key(df)
    if not df[key].is_unique:
        pytest.skip("join needs a unique key")
    right = df.set_index(key)[[c for c in df.columns if c != key][:1]].add_suffix("_r")
    out = df.join(right, on=key)
    assert len(out) == len(df)


def op_concat_empty(df, client, server):
    empty = _empty(client, server) if "id" in df.columns else df.iloc[:0]
    out = pd.concat([df, empty], ignore_index=True)
    assert len(out) == len(df)


def op_concat_list_view(df, client, server):
    if "id" not in df.columns:
        pytest.skip("not an images frame")
    lv = _list_view(client, server)
    out = pd.concat([df, lv], ignore_index=True)
    assert len(out) == len(df) + len(lv)
    for col in _string_columns(out):
        assert isinstance(out[col].dtype, pd.StringDtype), col


def op_concat_csv(df, client, server):
    if "id" not in df.columns:
        pytest.skip("not an images frame")
    back = _csv(client, server)
    out = pd.concat([df, back], ignore_index=True)
    assert len(out) == len(df) + len(back)


@requires_pyarrow
def op_concat_parquet(df, client, server, tmp_path):
    path = tmp_path / "f.parquet"
    df.to_parquet(path)
    out = pd.concat([df, pd.read_parquet(path)], ignore_index=True)
    assert len(out) == 2 * len(df)


def op_isin(df):
    for col in _string_columns(df):
        values = df[col].dropna().astype(str).tolist()[:7]
        mask = df[col].isin(values)
        assert mask.sum() == df[col].astype(object).isin(values).sum()
    key = _key(df)
    assert df[key].isin(df[key].tolist()).all() or df[key].isna().any()


def op_groupby(df):
    by = "status" if "status" in df.columns else _key(df)
    out = df.groupby(by, observed=True, dropna=False).size()
    assert out.sum() == len(df)
    for col in _string_columns(df)[:2]:
        assert df.groupby(col, dropna=False).size().sum() == len(df)


def op_sort_values(df):
    cols = _hashable(df)[:3]
    out = df.sort_values(cols, na_position="last", kind="stable")
    assert len(out) == len(df)


def op_drop_duplicates(df):
    cols = _hashable(df)
    out = pd.concat([df, df]).drop_duplicates(cols)
    assert len(out) == len(df.drop_duplicates(cols))


def op_set_index_loc(df):
    key = _key(df)
    if len(df) == 0:
        assert df.set_index(key).loc[[]].empty
        return
    indexed = df.set_index(key)
    first = df[key].iloc[0]
    got = indexed.loc[[first]]
    assert len(got) == int((df[key] == first).sum())


def op_str_methods(df):
    for col in _string_columns(df):
        s = df[col]
        upper = s.str.upper()
        assert upper.isna().equals(s.isna())
        assert (s.str.len().fillna(0) >= 0).all()
        s.str.contains("ubuntu", regex=False, na=False)
        s.str.startswith("http", na=False)


def op_astype(df):
    for col in _string_columns(df):
        as_objects = df[col].astype(object)
        assert [None if v is pd.NA else v for v in as_objects] == \
            [None if pd.isna(v) else v for v in df[col].tolist()]
        assert df[col].astype(str).dtype.kind in "OU" or isinstance(
            df[col].astype(str).dtype, pd.StringDtype)
        assert df[col].astype("string").equals(df[col])
    objects = df.astype({c: object for c in _string_columns(df)})
    assert objects.shape == df.shape


@requires_pyarrow
def op_parquet_round_trip(df, tmp_path):
    """pandas' own Parquet round trip keeps every dtype (metadata dicts aside: Parquet
    cannot hold an arbitrary-typed dict column, so imgframe.export.to_parquet is the way)."""
    frame = df[_hashable(df)]
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    # Parquet keeps no category list for a column without values, so an *empty* frame's
    # status comes back with no categories from pd.read_parquet (imgframe.export.read_parquet
    # restores them: op_imgframe_parquet_round_trip)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame, check_dtype=True,
                                  check_categorical=len(frame) > 0)


@requires_pyarrow
def op_imgframe_parquet_round_trip(df, tmp_path):
    if "metadata" not in df.columns:
        pytest.skip("not an images frame")
    path = tmp_path / "r.parquet"
    imgframe.export.to_parquet(df, path)
    back = imgframe.export.read_parquet(path)
    back.attrs = df.attrs
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=True)


def op_csv_round_trip(df):
    if "metadata" not in df.columns:
        pytest.skip("not an images frame")
    back = imgframe.read_csv(io.StringIO(imgframe.to_csv(df)))
    back.attrs = df.attrs
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=True)


def op_equality_and_copy(df):
    other = _plain_like(df)
    for col in _string_columns(df):
        assert df[col].equals(other[col]), col
        assert ((df[col] == other[col]) | df[col].isna()).all(), col


#: Every operation a user does with a frame. Add new ones here.
OPERATIONS = [
    op_merge_self, op_merge_other_imgframe, op_merge_plain_pandas, op_merge_user_strings,
    op_join, op_concat_empty, op_concat_list_view, op_concat_csv, op_concat_parquet, op_isin,
    op_groupby, op_sort_values, op_drop_duplicates, op_set_index_loc, op_str_methods,
    op_astype, op_parquet_round_trip, op_imgframe_parquet_round_trip, op_csv_round_trip,
    op_equality_and_copy,
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda f: f.__name__[3:])
def test_operation(frame, operation, request, detail, client, server, tmp_path):
    import inspect

    available = {"df": frame, "detail": detail, "client": client, "server": server,
                 "tmp_path": tmp_path}
    marks = getattr(operation, "pytestmark", [])
    for mark in marks:
        if mark.name == "skipif" and mark.args and mark.args[0]:
            pytest.skip(mark.kwargs.get("reason", ""))
    params = inspect.signature(operation).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        operation(**{name: available[name] for name in params})


def test_pagination_error_partial_is_plain(server, detail, image_server):
    """The partial frame of a pager error (a looping next link) concatenates and merges."""
    bad = image_server(server.images[:60], token="t", faults=Faults(loop_next=2))
    c = imgframe.Client(bad.url, bad.project_id, token="t", retries=0)
    with pytest.raises(PaginationError) as info:
        c.load(page_size=20, progress=False)
    partial = info.value.partial
    assert partial is not None and len(partial) > 0
    test_string_arrays_match_their_dtype(partial)
    both = pd.concat([partial, detail], ignore_index=True)
    assert len(both) == len(partial) + len(detail)
    assert len(partial.merge(detail[["id"]], on="id")) == len(partial)


def test_metadata_frame_joins_on_the_index(detail):
    meta = detail.images.metadata_frame()
    joined = detail[["id", "name"]].join(meta)
    assert len(joined) == len(detail)
    assert joined["id"].tolist() == detail["id"].tolist()
    assert pd.concat([meta, meta]).shape == (2 * len(meta), meta.shape[1])


def test_a_core_install_says_what_parquet_features_need(tmp_path):
    """Without pyarrow (a plain `pip install imgframe`) the snapshot store says what to
    install; with it, the store works."""
    if HAVE_PYARROW:
        assert imgframe.SnapshotStore(tmp_path).list().empty
    else:
        with pytest.raises(imgframe.ImgframeError, match=r"pyarrow.*imgframe\[parquet\]"):
            imgframe.SnapshotStore(tmp_path)
