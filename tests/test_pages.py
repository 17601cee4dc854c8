"""The pager's rules, tested with closures instead of a server (python-api-core style)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgframe.errors import APIError, MalformedResponseError, PaginationError
from imgframe.pages import MarkerNotFound, Page, PageIterator, marker_from_href


def ids(n, prefix="i"):
    return [f"{prefix}{k:04d}" for k in range(n)]


def listing(all_ids, *, cap=None, link=True, limit=3, href="http://h/v2.1/p/images"):
    """A fake server: keyset pages after ``marker``, a next link iff the page is full."""
    calls = []

    def fetch(marker):
        calls.append(marker)
        start = 0 if marker is None else all_ids.index(marker) + 1
        size = min(limit, cap) if cap else limit
        chunk = all_ids[start:start + size]
        nxt = f"{href}?limit={limit}&marker={chunk[-1]}" if link and len(chunk) == size else None
        return Page([{"id": i} for i in chunk], nxt)

    return fetch, calls


def run(it):
    return [item["id"] for page in it for item in page]


def test_marker_from_href():
    assert marker_from_href("http://h/x?limit=2&marker=a%20b") == "a b"
    assert marker_from_href("http://h/x?limit=2") is None
    assert marker_from_href(None) is None
    assert marker_from_href("http://h/x?marker=") is None


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 9, 10])
@pytest.mark.parametrize("link", [True, False])
def test_every_image_once(n, link):
    fetch, calls = listing(ids(n), link=link)
    it = PageIterator(fetch, page_size=3)
    assert run(it) == ids(n)
    # a full page is always followed once more; an exact multiple ends on an empty page
    assert len(calls) == n // 3 + 1
    assert it.pages == len(calls) - (n % 3 == 0) and it.duplicates == 0


def test_server_caps_below_page_size_and_links():
    fetch, calls = listing(ids(10), cap=2, limit=5)
    it = PageIterator(fetch, page_size=5)
    assert run(it) == ids(10)
    assert len(calls) == 5 + 1 - 0  # pages of 2 with links, last one full -> empty page
    assert it.pages == 5


def test_short_page_without_link_stops():
    fetch, calls = listing(ids(10), cap=2, limit=5, link=False)
    assert run(PageIterator(fetch, page_size=5)) == ids(2)


def test_marker_taken_from_href_not_last_id():
    pages = {None: Page([{"id": "a"}, {"id": "b"}], "http://other:1/x?marker=a"),
             "a": Page([{"id": "b"}, {"id": "c"}], None)}
    it = PageIterator(pages.__getitem__, page_size=5)
    assert run(it) == ["a", "b", "c"]
    assert it.duplicates == 1


def test_repeating_marker_raises_with_resume_marker():
    def fetch(marker):
        if marker is None:
            return Page([{"id": "a"}, {"id": "b"}], "http://h/?marker=b")
        if marker == "b":
            return Page([{"id": "c"}, {"id": "d"}], "http://h/?marker=b")
        raise AssertionError(marker)

    it = PageIterator(fetch, page_size=2)
    got = []
    with pytest.raises(PaginationError, match="repeats marker b") as info:
        for page in it:
            got += [i["id"] for i in page]
    assert got == ["a", "b", "c", "d"]
    assert info.value.resume_marker == "d" == it.resume_marker


def test_page_of_only_seen_ids_raises():
    def fetch(marker):
        return Page([{"id": "a"}, {"id": "b"}], f"http://h/?marker={marker or 'x'}y")

    with pytest.raises(PaginationError, match="only of images already listed"):
        run(PageIterator(fetch, page_size=2))


def test_duplicates_inside_a_page_are_dropped():
    it = PageIterator(lambda m: Page([{"id": "a"}, {"id": "a"}, {"id": "b"}]), page_size=5)
    assert run(it) == ["a", "b"] and it.duplicates == 1


def test_vanished_marker_recovers_with_earlier_ids():
    data = ids(9)
    gone = set()
    calls = []

    def fetch(marker):
        calls.append(marker)
        if marker in gone:
            raise MarkerNotFound(marker)
        start = 0 if marker is None else data.index(marker) + 1
        chunk = [i for i in data[start:] if i not in gone][:3]
        if chunk and chunk[-1] == "i0002":
            gone.update({"i0002", "i0001"})  # the last two of page 1 vanish
        return Page([{"id": i} for i in chunk], None)

    it = PageIterator(fetch, page_size=3)
    got = run(it)
    assert got == ["i0000", "i0001", "i0002"] + ids(9)[3:]
    assert calls[:4] == [None, "i0002", "i0001", "i0000"]
    assert it.recoveries == 1 and len(got) == len(set(got))


def test_vanished_marker_without_fallback():
    def fetch(marker):
        if marker is None:
            return Page([{"id": "a"}], "http://h/?marker=a")
        raise MarkerNotFound(marker)

    with pytest.raises(PaginationError, match="vanished") as info:
        run(PageIterator(fetch, page_size=1))
    assert info.value.resume_marker is None
    assert "reload from the start" in str(info.value)


def test_users_own_unknown_marker_is_an_api_error_not_pagination():
    def fetch(marker):
        raise MarkerNotFound(marker, f"No image found with ID {marker}", status=400,
                             request_id="req-1")

    with pytest.raises(APIError) as info:
        run(PageIterator(fetch, page_size=1, marker="zz"))
    err = info.value
    assert not isinstance(err, PaginationError)
    assert "marker='zz' was refused by the server: No image found with ID zz" in str(err)
    assert err.status == 400 and err.message == "No image found with ID zz"
    assert err.request_id == "req-1"


def test_all_of_previous_page_vanished_points_at_resume_marker():
    # page 2 (after marker b) is listed, then every id of page 2 vanishes
    pages = {None: (["a", "b"], "b"), "b": (["c", "d"], "d")}
    vanished = {"c", "d"}

    def fetch2(marker):
        if marker in vanished:
            raise MarkerNotFound(marker)
        items, nxt = pages[marker]
        return Page([{"id": i} for i in items], f"http://h/?marker={nxt}")

    it = PageIterator(fetch2, page_size=2)
    with pytest.raises(PaginationError, match="vanished") as info:
        run(it)
    assert info.value.resume_marker == "b" and it.resume_marker == "b"
    assert "marker=exc.resume_marker" in str(info.value) and "(= b" in str(info.value)


def test_non_object_item_is_reported_as_such():
    def fetch(marker):
        return Page([{"id": "a"}, "oops"], None)

    with pytest.raises(MalformedResponseError, match="not an object: 'oops'"):
        run(PageIterator(fetch, page_size=5))


def test_max_items_truncates_and_says_so():
    fetch, calls = listing(ids(10))
    it = PageIterator(fetch, page_size=3, max_items=4)
    assert run(it) == ids(4) and it.truncated and len(calls) == 2
    fetch, calls = listing(ids(4))
    it = PageIterator(fetch, page_size=3, max_items=4)
    assert run(it) == ids(4) and not it.truncated
    fetch, calls = listing(ids(6))
    it = PageIterator(fetch, page_size=3, max_items=6)
    assert run(it) == ids(6) and it.truncated  # a link said there may be more


def test_start_marker_and_resume_marker_on_fetch_error():
    data = ids(7)

    def fetch(marker):
        start = 0 if marker is None else data.index(marker) + 1
        if start >= 3:
            raise RuntimeError("boom")
        return Page([{"id": i} for i in data[start:start + 3]], None)

    it = PageIterator(fetch, page_size=3, marker="i0000")
    with pytest.raises(RuntimeError):
        run(it)
    assert it.resume_marker == "i0003"


@pytest.mark.parametrize("items", [[{"name": "x"}], [{"id": 3}], [{"id": ""}], ["a"], [None]])
def test_malformed_ids(items):
    with pytest.raises(MalformedResponseError):
        run(PageIterator(lambda m: Page(items), page_size=3))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(1, 7), st.one_of(st.none(), st.integers(1, 7)),
       st.booleans(), st.one_of(st.none(), st.integers(1, 50)))
def test_property_exactly_once(n, limit, cap, link, max_items):
    fetch, calls = listing(ids(n), limit=limit, cap=cap, link=link)
    it = PageIterator(fetch, page_size=limit, max_items=max_items)
    got = run(it)
    size = min(limit, cap) if cap else limit
    if size < limit and not link:
        expected = ids(n)[:size]  # short page, no link: indistinguishable from the end
    else:
        expected = ids(n)
    if max_items is not None:
        if len(expected) > max_items:
            assert it.truncated
        if it.truncated:
            assert len(expected) >= max_items
        expected = expected[:max_items]
    assert got == expected
    assert len(calls) <= n // max(size, 1) + 2
