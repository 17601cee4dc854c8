"""sample_inventory: deterministic, realistic, hostile where it should be."""

import collections
import datetime as dt
import re

import pytest

from imgframe.server import GLANCE_STATUSES, sample_inventory

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def inv():
    return sample_inventory(5000, seed=0)


def test_deterministic_per_seed():
    assert sample_inventory(300, seed=1) == sample_inventory(300, seed=1)
    assert sample_inventory(300, seed=1) != sample_inventory(300, seed=2)
    assert sample_inventory(0) == []
    with pytest.raises(ValueError):
        sample_inventory(-1)


def test_record_shape(inv):
    for rec in inv:
        assert set(rec) == {"id", "name", "status", "created_at", "updated_at", "min_ram",
                            "min_disk", "size", "properties", "visibility", "owner",
                            "protected", "os_hidden", "disk_format", "container_format",
                            "checksum", "os_hash_algo", "os_hash_value", "virtual_size",
                            "tags"}
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            rec["id"])
        assert rec["created_at"].tzinfo == UTC and rec["created_at"].microsecond == 0
        if rec["updated_at"] is not None:
            assert rec["updated_at"] >= rec["created_at"]
        assert isinstance(rec["min_ram"], int) and rec["min_ram"] >= 0
        assert isinstance(rec["min_disk"], int) and rec["min_disk"] >= 0
        assert rec["size"] is None or (isinstance(rec["size"], int) and rec["size"] >= 0)
        assert all(isinstance(v, (str, list, type(None))) for v in rec["properties"].values())
    assert len({r["id"] for r in inv}) == len(inv)


@pytest.mark.parametrize("n", [9, 40, 5000])
def test_every_status_present(n):
    counts = collections.Counter(r["status"] for r in sample_inventory(n, seed=3))
    assert set(counts) == {s for s, _ in GLANCE_STATUSES}


def test_mostly_active(inv):
    counts = collections.Counter(r["status"] for r in inv)
    assert 0.8 < counts["active"] / len(inv) < 0.95
    assert counts.most_common(1)[0][0] == "active"


def test_names_look_like_real_images(inv):
    names = [r["name"] for r in inv if r["name"]]
    assert any(re.fullmatch(r"ubuntu-\d\d\.04-server-(amd64|arm64)-20\d{6}", n) for n in names)
    assert any(n.startswith("windows-server-20") and "datacenter" in n for n in names)
    snaps = [r for r in inv if r["properties"].get("image_type") == "snapshot"]
    assert len(snaps) > 100
    assert all(r["properties"]["instance_uuid"] for r in snaps)
    assert any("snapshot" in (r["name"] or "") for r in snaps)


def test_hostile_and_null_names(inv):
    names = [r["name"] for r in inv]
    assert None in names
    texts = [n for n in names if n]
    for lead in "=+-@":
        assert any(n.startswith(lead) for n in texts), lead
    for needle in (",", '"', "'", "\n", "\t"):
        assert any(needle in n for n in texts), repr(needle)
    assert any(not n.isascii() for n in texts)


def test_metadata_keys(inv):
    keys = collections.Counter(k for r in inv for k in r["properties"])
    for key in ("os_distro", "architecture", "hw_disk_bus", "__os_type", "__imagetype",
                "__os_version", "instance_uuid", "image_type", "auto_disk_config",
                "block_device_mapping"):
        assert keys[key] > 0, key
    bdms = [r["properties"]["block_device_mapping"] for r in inv
            if "block_device_mapping" in r["properties"]]
    assert all(isinstance(b, list) and b and isinstance(b[0], dict) for b in bdms)
    assert {r["properties"].get("auto_disk_config") for r in inv} >= {"True", "False"}
    assert any(v is None for r in inv for v in r["properties"].values())


def test_times_span_two_years_with_bursts(inv):
    created = sorted(r["created_at"] for r in inv)
    span = created[-1] - created[0]
    assert dt.timedelta(days=650) < span < dt.timedelta(days=800)
    per_day = collections.Counter(c.date() for c in created)
    counts = sorted(per_day.values())
    median = counts[len(counts) // 2]
    assert counts[-1] > 5 * median        # release-day bursts
    assert any(r["updated_at"] is None for r in inv)
    assert any(r["updated_at"] and r["updated_at"] - r["created_at"] > dt.timedelta(days=20)
               for r in inv)


def test_sizes_and_requirements_are_plausible(inv):
    win = [r for r in inv if r["properties"]["os_distro"] == "windows"
           and "image_type" not in r["properties"]]
    assert all(r["min_ram"] >= 2048 and r["min_disk"] >= 40 for r in win)
    assert all(r["size"] is None or r["size"] > 5 * 2**30 for r in win)
    cirros = [r for r in inv if r["properties"]["os_distro"] == "cirros"
              and "image_type" not in r["properties"] and r["size"]]
    assert cirros and all(r["size"] < 50 * 2**20 for r in cirros)
    assert all(r["size"] is None for r in inv if r["status"] == "queued")


def test_large_inventory_builds(inv):
    big = sample_inventory(50_000, seed=9)      # speed sanity (not timed): vectorised draws
    assert len(big) == 50_000
    assert len({r["id"] for r in big}) == 50_000
    assert big[:10] == sample_inventory(50_000, seed=9)[:10]


def test_no_image_predates_its_os_release(inv):
    from imgframe.server.inventory import FAMILIES, RELEASED

    released = {(f[0], v): dt.datetime.fromisoformat(d).replace(tzinfo=UTC)
                for f in FAMILIES for v, d in zip(f[2], RELEASED[f[0]], strict=True)}
    window_start = min(r["created_at"] for r in inv)
    for rec in inv:
        key = (rec["properties"]["os_distro"], rec["properties"]["os_version"])
        if released[key] > window_start:        # versions released inside the window
            assert rec["created_at"] >= released[key], (key, rec["created_at"])
    versions = {r["properties"]["os_version"] for r in inv
                if r["properties"]["os_distro"] == "ubuntu"}
    assert "26.04" in versions                  # a release inside the window shows up
