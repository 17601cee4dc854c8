"""imgframe.server over real HTTP: Nova's observed behaviour (nova-34-observed.md)."""

import pytest
import requests

from imgframe.server import DEFAULT_PROJECT_ID, ImageServer, sample_inventory


@pytest.fixture(scope="module")
def srv():
    with ImageServer(300, seed=0) as server:
        yield server


def test_list_first_page_is_newest_first(srv):
    r = requests.get(f"{srv.endpoint}/images", params={"limit": 5})
    assert r.status_code == 200
    listed = [i for i in srv.images if i["status"] not in ("killed", "deleted", "pending_delete")]
    expected = sorted(listed, key=lambda i: (i["created_at"], i["id"]), reverse=True)[:5]
    assert [i["id"] for i in r.json()["images"]] == [i["id"] for i in expected]
    assert srv.project_id == DEFAULT_PROJECT_ID


def test_sample_inventory_is_deterministic():
    assert sample_inventory(50, seed=3) == sample_inventory(50, seed=3)
    assert sample_inventory(50, seed=3) != sample_inventory(50, seed=4)
