"""CSV export: hostile names, formula neutralisation, exact round trip with dtypes."""

import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe.export import neutralise, read_csv, to_csv, unneutralise
from imgframe.frame import COLUMNS, DTYPES, empty_frame, frame_from_pages
from imgframe.sources import nova

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\tindented", "\rreturn", "'=already", "''+two", "'plain quote", "comma, name",
           "quote \"inside\"", "new\nline", "crlf\r\nline", "ünïcødé 雪", "NA", "null", "nan",
           "  spaced  ", "=", "-", "'", "", "''"]


def item(k, name, **extra):
    iid = f"00000000-0000-0000-0000-{k:012d}"
    out = {"id": iid, "name": name, "status": "ACTIVE", "progress": 100,
           "created": "2020-01-0%dT01:02:03Z" % (1 + k % 9), "updated": None if k % 2 else
           "2021-02-03T04:05:06Z", "minRam": 512 * k, "minDisk": k,
           "OS-EXT-IMG-SIZE:size": 10 ** (k % 15),
           "metadata": {"os_distro": "=evil", "block_device_mapping": [{"a": 1}], "x": None},
           "links": [{"rel": "self", "href": f"http://h/v2.1/p/images/{iid}"},
                     {"rel": "bookmark", "href": f"http://h/p/images/{iid}"},
                     {"rel": "alternate", "href": f"http://g/images/{iid}"}]}
    out.update(extra)
    return out


@pytest.fixture
def hostile_df():
    items = [item(k, name) for k, name in enumerate(HOSTILE)]
    items.append(item(99, None, server={"id": "srv-1"}, metadata=None,
                      **{"OS-DCF:diskConfig": "AUTO"}))
    return frame_from_pages([items], source=nova.SOURCE)


def test_neutralise_roundtrip():
    for text in HOSTILE + ["a", "a'", "'" * 3]:
        assert unneutralise(neutralise(text)) == text
    assert neutralise("=1") == "'=1" and neutralise("a=1") == "a=1"


def test_csv_roundtrip_is_exact(hostile_df, tmp_path):
    path = tmp_path / "inventory.csv"
    assert to_csv(hostile_df, path) is None
    back = read_csv(path)
    pd.testing.assert_frame_equal(back, hostile_df)
    assert list(back.columns) == COLUMNS and dict(back.dtypes) == DTYPES


def test_plain_pandas_sees_only_a_prefix(hostile_df, tmp_path):
    path = tmp_path / "inventory.csv"
    to_csv(hostile_df, path)
    raw = path.read_bytes()
    assert raw.decode("utf-8")  # UTF-8
    plain = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert plain["id"].tolist() == hostile_df["id"].tolist()
    for got, want in zip(plain["name"], hostile_df["name"], strict=True):
        if pd.isna(want):
            assert pd.isna(got)
        elif want.lstrip("'")[:1] in ("=", "+", "-", "@", "\t", "\r", ""):
            assert got == "'" + want
        else:
            assert got == want
    # nothing a spreadsheet would evaluate
    for col in plain.columns:
        for cell in plain[col].dropna().astype(str):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (col, cell)
    assert plain["created"].iloc[0] == "2020-01-01T01:02:03Z"
    assert plain["metadata"].iloc[0].startswith("{") and "\"=evil\"" in plain["metadata"].iloc[0]
    assert plain["size"].iloc[3] == 1000


def test_unsafe_writes_raw(hostile_df):
    text = to_csv(hostile_df, safe=False)
    assert '"=HYPERLINK(""http://evil"",""x"")"' in text
    back = read_csv(io.StringIO(text), safe=False)
    empty = (hostile_df["name"] == "").fillna(False).to_numpy(dtype=bool)
    assert back["name"][empty].isna().all()  # without safe=True, "" reads back as NA
    pd.testing.assert_frame_equal(back[~empty], hostile_df[~empty])


def test_empty_frame_roundtrip():
    back = read_csv(io.StringIO(to_csv(empty_frame())))
    assert list(back.columns) == COLUMNS and dict(back.dtypes) == DTYPES and len(back) == 0


def test_extra_link_column_and_attrs_not_written(hostile_df):
    df = hostile_df.copy()
    df["link_describedby"] = pd.array(["=x"] * len(df), dtype="string")
    df.attrs["imgframe"] = {"endpoint": "http://h", "secret": "TOKEN-XYZ"}
    text = to_csv(df)
    assert "TOKEN-XYZ" not in text
    back = read_csv(io.StringIO(text))
    pd.testing.assert_frame_equal(back, df.assign(), check_flags=False)
    assert back["link_describedby"].dtype == "string"


names = st.one_of(st.none(), st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=15))


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=6))
def test_property_roundtrip(name_list):
    df = frame_from_pages([[item(k, n) for k, n in enumerate(name_list)]], source=nova.SOURCE)
    back = read_csv(io.StringIO(to_csv(df)))
    pd.testing.assert_frame_equal(back, df)


def test_parquet_roundtrip(hostile_df, tmp_path):
    pytest.importorskip("pyarrow")
    from imgframe.export import read_parquet, to_parquet

    to_parquet(hostile_df, tmp_path / "inv.parquet")
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "inv.parquet"), hostile_df)


def test_module_doctests():
    import doctest

    import imgframe.export
    import imgframe.frame
    import imgframe.pages
    import imgframe.query

    for module in (imgframe.export, imgframe.frame, imgframe.pages, imgframe.query):
        assert doctest.testmod(module).failed == 0


@given(st.text(alphabet=st.sampled_from(list("'=+-@\t\rab ,\"\n")), max_size=8))
def test_property_neutralise_is_a_safe_bijection(text):
    out = neutralise(text)
    assert unneutralise(out) == text
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert out != ""  # an empty text is written as "'" (so it is not read back as missing)
    assert out == text or out == "'" + text


@pytest.mark.parametrize("safe", ["no", 1, None, "False"])
def test_safe_must_be_a_bool(hostile_df, safe):
    from imgframe.errors import InvalidQueryError

    with pytest.raises(InvalidQueryError, match=r"safe=.* True .* or False") as info:
        to_csv(hostile_df, safe=safe)
    assert info.value.parameter == "safe" and info.value.given == safe
    text = to_csv(hostile_df)
    with pytest.raises(InvalidQueryError) as info:
        read_csv(io.StringIO(text), safe=safe)
    assert info.value.parameter == "safe"


@pytest.mark.parametrize("df", [None, [{"id": "a"}], {"id": ["a"]}, "images.csv"])
def test_to_csv_needs_a_dataframe(df):
    from imgframe.errors import InvalidQueryError

    with pytest.raises(InvalidQueryError, match=r"a pandas DataFrame") as info:
        to_csv(df)
    assert info.value.parameter == "df" and info.value.given == type(df).__name__
