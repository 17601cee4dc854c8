"""changes_since_trend: cutoffs, ordering, concurrency, sanity warning, and agreement
with df.images.changed_since on the embedded server."""

import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import imgframe.accessor  # noqa: F401  (registers df.images)
from imgframe.errors import InvalidQueryError, TransportError
from imgframe.trends import CatalogueChangedWarning, changes_since_trend, trend_cutoffs


class FakeClient:
    """Answers ``load(changes_since=..., status=..., detail=False)`` from a list of
    (updated, status) pairs, optionally slowly, and records what it was asked."""

    def __init__(self, updated, statuses=None, *, delay=0.0, fail_on=None, drift=0):
        self.updated = pd.to_datetime(pd.Series(updated), utc=True, format="ISO8601")
        self.statuses = pd.Series(statuses if statuses is not None else ["ACTIVE"] * len(updated))
        self.delay = delay
        self.fail_on = fail_on
        self.drift = drift
        self.calls = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def load(self, *, changes_since=None, status=None, detail=True, progress=None):
        with self.lock:
            self.calls.append((changes_since, status, detail, progress))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            order = len(self.calls)
        try:
            time.sleep(self.delay)
            if self.fail_on is not None and changes_since == pd.Timestamp(self.fail_on, tz="UTC"):
                raise TransportError("connection refused", url="http://h/v2.1/p/images")
            keep = self.updated >= changes_since
            if status is not None:
                keep &= self.statuses == status
            n = int(keep.sum()) + (self.drift * order)
            return pd.DataFrame({"id": [str(i) for i in range(n)]})
        finally:
            with self.lock:
                self.in_flight -= 1


UPDATED = ["2026-01-01", "2026-01-08", "2026-01-08T12:00:00", "2026-01-20", "2026-02-01",
           "2026-02-03", "2026-03-01"]
STATUSES = ["ACTIVE", "SAVING", "ACTIVE", "UNKNOWN", "ACTIVE", "SAVING", "ACTIVE"]


# -- cutoffs --------------------------------------------------------------------------------


def test_trend_cutoffs_weekly_from_start_to_end_inclusive():
    cuts = trend_cutoffs("2026-01-05", "2026-02-02", "W")
    assert list(cuts.strftime("%Y-%m-%d")) == ["2026-01-05", "2026-01-12", "2026-01-19",
                                              "2026-01-26", "2026-02-02"]
    assert str(cuts.tz) == "UTC"


def test_trend_cutoffs_monthly_keeps_the_day_of_month():
    cuts = trend_cutoffs("2026-01-31", "2026-05-31", "m")
    assert list(cuts.strftime("%m-%d")) == ["01-31", "02-28", "03-31", "04-30", "05-31"]


@pytest.mark.parametrize("freq, n, first", [
    ("W", 53, "2025-04-02"), ("M", 13, "2025-04-01"), ("D", 366, "2025-04-01"),
    ("Q", 5, "2025-04-01"), ("Y", 5, "2022-04-01")])
def test_trend_cutoffs_default_looks_back_a_year_and_ends_at_end(freq, n, first):
    cuts = trend_cutoffs(end="2026-04-01", freq=freq)
    assert len(cuts) == n
    assert cuts[-1] == pd.Timestamp("2026-04-01", tz="UTC")
    assert cuts[0] == pd.Timestamp(first, tz="UTC")


def test_trend_cutoffs_end_defaults_to_today_midnight_utc():
    today = pd.Timestamp.now(tz="UTC").floor("D")
    assert trend_cutoffs(freq="W")[-1] == today


@pytest.mark.parametrize("kwargs, parameter", [
    ({"start": "2026-03-01", "end": "2026-01-01"}, "start"),
    ({"start": "yesterday-ish"}, "start"),
    ({"end": 12}, "end"),
    ({"freq": "H"}, "freq"),
    ({"start": "1900-01-01", "end": "2026-01-01", "freq": "D"}, "start"),
])
def test_trend_cutoffs_rejects(kwargs, parameter):
    with pytest.raises(InvalidQueryError) as info:
        trend_cutoffs(**kwargs)
    assert info.value.parameter == parameter


# -- the trend against a fake client -------------------------------------------------------


def test_trend_counts_in_cutoff_order_using_the_list_endpoint():
    client = FakeClient(UPDATED, delay=0.01)
    cutoffs = ["2026-03-01", "2026-01-01", "2026-01-08", "2026-02-02", "2026-01-08"]
    trend = changes_since_trend(client, cutoffs=cutoffs, workers=3)
    assert list(trend.columns) == ["cutoff", "images"]
    assert list(trend["cutoff"].dt.strftime("%Y-%m-%d")) == [
        "2026-01-01", "2026-01-08", "2026-02-02", "2026-03-01"]
    assert list(trend["images"]) == [7, 6, 2, 1]
    assert {(detail, progress) for _, _, detail, progress in client.calls} == {(False, False)}
    assert len(client.calls) == 4          # duplicates asked once
    assert trend.attrs["imgframe_trend"]["queries"] == 4


def test_trend_per_status_one_row_per_cutoff_and_status():
    client = FakeClient(UPDATED, STATUSES)
    trend = changes_since_trend(client, cutoffs=["2026-01-08", "2026-02-01"],
                                status=["saving", "active"])
    assert list(trend.columns) == ["cutoff", "status", "images"]
    assert list(trend["status"].astype(str)) == ["SAVING", "ACTIVE"] * 2
    assert list(trend["images"]) == [2, 3, 1, 2]


def test_trend_runs_cutoffs_concurrently_up_to_workers():
    client = FakeClient(UPDATED, delay=0.05)
    changes_since_trend(client, start="2026-01-01", end="2026-03-01", freq="W", workers=3)
    assert len(client.calls) == 9
    assert client.max_in_flight == 3
    serial = FakeClient(UPDATED, delay=0.0)
    changes_since_trend(serial, start="2026-01-01", end="2026-03-01", freq="W", workers=1)
    assert serial.max_in_flight == 1


def test_trend_warns_when_the_catalogue_changes_while_measured():
    client = FakeClient(UPDATED, drift=5)   # each later query sees 5 more images
    with pytest.warns(CatalogueChangedWarning, match="catalogue changed while the trend"):
        changes_since_trend(client, cutoffs=["2026-01-01", "2026-02-01", "2026-03-01"],
                            workers=1)
    assert issubclass(CatalogueChangedWarning, UserWarning)


def test_trend_warning_names_the_status_per_status():
    client = FakeClient(UPDATED, STATUSES, drift=5)
    with pytest.warns(CatalogueChangedWarning, match=r"\(SAVING\)"):
        changes_since_trend(client, cutoffs=["2026-01-01", "2026-03-01"], status="saving",
                            workers=1)


def test_trend_consistent_catalogue_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        changes_since_trend(FakeClient(UPDATED, STATUSES), start="2026-01-01",
                            end="2026-03-01", status=["active", "saving"])


def test_trend_error_names_the_cutoff_and_stops():
    client = FakeClient(UPDATED, fail_on="2026-01-15")
    with pytest.raises(TransportError) as info:
        changes_since_trend(client, start="2026-01-01", end="2026-12-31", freq="W", workers=2)
    assert "changes-since=2026-01-15T00:00:00+00:00" in "".join(info.value.__notes__)
    assert len(client.calls) < 52


@pytest.mark.parametrize("kwargs, parameter", [
    ({"workers": 0}, "workers"),
    ({"workers": 2.5}, "workers"),
    ({"status": "error"}, "status"),
    ({"cutoffs": ["2026-01-01", "nonsense"]}, "cutoffs"),
    ({"cutoffs": ["2026-01-01"], "start": "2026-01-01"}, "cutoffs"),
])
def test_trend_rejects_bad_arguments_before_asking(kwargs, parameter):
    client = FakeClient(UPDATED)
    with pytest.raises(InvalidQueryError) as info:
        changes_since_trend(client, **kwargs)
    assert info.value.parameter == parameter
    assert client.calls == []


def test_frame_and_fake_server_agree():
    frame = pd.DataFrame({
        "id": pd.array([str(i) for i in range(len(UPDATED))], dtype="string"),
        "name": pd.array([None] * len(UPDATED), dtype="string"),
        "status": pd.Categorical(STATUSES),
        "created": pd.to_datetime(pd.Series(UPDATED), utc=True, format="ISO8601"),
        "updated": pd.to_datetime(pd.Series(UPDATED), utc=True, format="ISO8601"),
    })
    cutoffs = trend_cutoffs("2025-12-29", "2026-03-09", "W")
    server_side = changes_since_trend(FakeClient(UPDATED, STATUSES), cutoffs=cutoffs)
    local = frame.images.changed_since(cutoffs)
    pd.testing.assert_frame_equal(server_side, local)
    np.testing.assert_array_equal(np.diff(local["images"]) <= 0, True)


# -- end to end on the embedded server ------------------------------------------------------


@pytest.fixture(scope="module")
def server_and_client(module_image_server):
    client_mod = pytest.importorskip("imgframe.client")
    srv = module_image_server(3000, seed=7, max_limit=500)
    return srv, client_mod.Client(srv.endpoint, token=srv.issue_token())


def full_cutoffs(df):
    """Monthly cutoffs across the whole catalogue, plus exact update times (the inclusive
    edge) and one second after one of them."""
    updated = df["updated"].dropna()
    monthly = trend_cutoffs(updated.min().floor("D") - pd.Timedelta(days=31),
                            updated.max().ceil("D") + pd.Timedelta(days=31), "M")
    exact = list(updated.sort_values().iloc[[0, len(updated) // 2, -1]])
    return list(monthly) + exact + [exact[1] + pd.Timedelta(seconds=1)]


def test_both_trend_sources_agree_exactly_on_the_embedded_server(server_and_client):
    srv, client = server_and_client
    df = client.load(detail=True, progress=False)
    cutoffs = full_cutoffs(df)
    server_side = changes_since_trend(client, cutoffs=cutoffs, workers=8)
    local = df.images.changed_since(cutoffs)
    pd.testing.assert_frame_equal(server_side, local)
    assert server_side["images"].iloc[0] == df["updated"].notna().sum()
    assert server_side["images"].iloc[-1] == 0
    assert 0 < server_side["images"].iloc[len(server_side) // 2] < len(df)


def test_both_sources_agree_per_status_on_the_embedded_server(server_and_client):
    srv, client = server_and_client
    df = client.load(detail=True, progress=False)
    cutoffs = full_cutoffs(df)[::3]
    statuses = ["ACTIVE", "SAVING", "UNKNOWN"]
    server_side = changes_since_trend(client, cutoffs=cutoffs, status=statuses)
    local = df.images.changed_since(cutoffs, status=statuses)
    pd.testing.assert_frame_equal(server_side, local)
    assert len(server_side) == len(set(cutoffs)) * 3


@pytest.fixture(scope="module", params=["glance", "ims"])
def other_source_client(request, server_and_client):
    srv, _ = server_and_client
    client_mod = pytest.importorskip("imgframe.client")
    endpoint = srv.glance_endpoint if request.param == "glance" else srv.ims_endpoint
    return srv, client_mod.Client(endpoint, source=request.param, token=srv.issue_token())


def test_glance_and_ims_trends_agree_exactly_with_a_full_load(other_source_client):
    srv, client = other_source_client
    df = client.load(progress=False)
    cutoffs = full_cutoffs(df)
    srv.stats.reset()
    server_side = changes_since_trend(client, cutoffs=cutoffs, workers=4)
    pd.testing.assert_frame_equal(server_side, df.images.changed_since(cutoffs))
    assert 0 < server_side["images"].iloc[len(server_side) // 2] < len(df)
    # their modification filter, on their one (detail) view
    assert srv.stats.requests > 0
    assert all("updated_at=gte%3A" in p or "updated_at=gte:" in p for p in srv.stats.paths)
    statuses = ["ACTIVE", "SAVING"]
    server_side = changes_since_trend(client, cutoffs=cutoffs[::4], status=statuses)
    pd.testing.assert_frame_equal(server_side,
                                  df.images.changed_since(cutoffs[::4], status=statuses))


def test_a_status_the_source_lacks_is_refused_before_any_request(server_and_client):
    srv, _ = server_and_client
    client = pytest.importorskip("imgframe.client").Client(
        srv.ims_endpoint, source="ims", token=srv.issue_token())
    srv.stats.reset()
    with pytest.raises(InvalidQueryError, match="Huawei IMS.*UNKNOWN") as info:
        changes_since_trend(client, cutoffs=["2026-01-01", "2026-02-01"], status="UNKNOWN")
    assert info.value.parameter == "status"
    assert srv.stats.requests == 0


def test_server_sees_at_most_workers_queries_in_flight(server_and_client):
    srv, client = server_and_client
    faults = pytest.importorskip("imgframe.server").Faults
    old = srv.faults
    srv.faults = faults(latency=0.05)
    try:
        srv.stats.reset()
        changes_since_trend(client, start="2020-01-01", end="2020-03-31", freq="W", workers=4)
        assert 1 < srv.stats.max_in_flight <= 4
        assert all("/images/detail" not in p for p in srv.stats.paths)
        assert sum("changes-since=" in p for p in srv.stats.paths) >= 13
    finally:
        srv.faults = old
