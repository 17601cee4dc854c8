"""The embedded keystone v3, driven by keystoneauth1 and openstacksdk (the recipes in the
imgframe.server docstring)."""

import pytest
import requests
from expected import default_listing

from imgframe.server import sample_inventory

keystoneauth1 = pytest.importorskip("keystoneauth1")
openstack = pytest.importorskip("openstack")
from keystoneauth1 import exceptions as ks_exc  # noqa: E402
from keystoneauth1 import session as ks_session  # noqa: E402
from keystoneauth1.identity import v3  # noqa: E402

NOT_LISTED = {"killed", "deleted", "pending_delete"}


@pytest.fixture(scope="module")
def inventory():
    return sample_inventory(60, seed=5)


@pytest.fixture(scope="module")
def srv(inventory, module_image_server):
    return module_image_server(inventory, users={"alice": "s3cret"})


def listed(inventory):
    out = [r for r in inventory if r["status"] not in NOT_LISTED and default_listing(r)]
    return sorted(out, key=lambda r: (r["created_at"], r["id"]), reverse=True)


def password(srv, pw="s3cret", **kw):
    kw.setdefault("project_id", srv.project_id)
    return v3.Password(auth_url=srv.auth_url, username="alice", password=pw,
                       user_domain_id="default", **kw)


def test_keystoneauth1_password_finds_compute_and_lists(srv, inventory):
    sess = ks_session.Session(auth=password(srv))
    endpoint = sess.get_endpoint(service_type="compute", interface="public")
    assert endpoint == srv.endpoint
    body = sess.get(f"{endpoint}/images/detail", params={"limit": 7}).json()
    assert [i["id"] for i in body["images"]] == [r["id"] for r in listed(inventory)[:7]]
    assert sess.get_project_id() == srv.project_id


def test_keystoneauth1_project_by_name(srv):
    auth = password(srv, project_id=None, project_name=srv.project_name,
                    project_domain_id="default")
    sess = ks_session.Session(auth=auth)
    assert sess.get_endpoint(service_type="compute", interface="internal") == srv.endpoint


@pytest.mark.parametrize("kw", [{"pw": "wrong"}, {"project_id": "0123abcd"}])
def test_keystoneauth1_refused(srv, kw):
    sess = ks_session.Session(auth=password(srv, **kw))
    with pytest.raises(ks_exc.Unauthorized):
        sess.get_token()


def test_compute_needs_a_token_when_users_are_set(srv):
    r = requests.get(f"{srv.endpoint}/images", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_token_method_and_validation(srv):
    first = requests.post(f"{srv.auth_url}/auth/tokens", timeout=10, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "password": "s3cret", "domain": {"id": "default"}}}},
        "scope": {"project": {"id": srv.project_id}}}})
    assert first.status_code == 201
    token = first.headers["X-Subject-Token"]
    catalog = first.json()["token"]["catalog"]
    compute = next(s for s in catalog if s["type"] == "compute")
    assert {e["url"] for e in compute["endpoints"]} == {srv.endpoint}
    second = requests.post(f"{srv.auth_url}/auth/tokens", timeout=10, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"id": srv.project_id}}}})
    assert second.status_code == 201
    new = second.headers["X-Subject-Token"]
    assert new != token
    check = requests.get(f"{srv.auth_url}/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": new, "X-Subject-Token": token})
    assert check.status_code == 200
    assert check.json()["token"]["project"]["id"] == srv.project_id
    missing = requests.get(f"{srv.auth_url}/auth/tokens", timeout=10,
                           headers={"X-Auth-Token": new, "X-Subject-Token": "nope"})
    assert missing.status_code == 404
    assert requests.get(f"{srv.endpoint}/images", headers={"X-Auth-Token": new},
                        timeout=10).status_code == 200


def test_unscoped_token_cannot_list(srv):
    r = requests.post(f"{srv.auth_url}/auth/tokens", timeout=10, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "password": "s3cret", "domain": {"id": "default"}}}}}})
    assert r.status_code == 201 and "catalog" not in r.json()["token"]
    assert requests.get(f"{srv.endpoint}/images", timeout=10, headers={
        "X-Auth-Token": r.headers["X-Subject-Token"]}).status_code == 401


@pytest.mark.filterwarnings("ignore")   # the SDK's own deprecation chatter
def test_openstacksdk_password(srv, inventory):
    conn = openstack.connect(auth_url=srv.auth_url, username="alice", password="s3cret",
                             project_id=srv.project_id, user_domain_id="default",
                             region_name="RegionOne")
    try:
        names = [(img.id, img.name, img.status) for img in conn.compute.images()]
    finally:
        conn.close()
    assert [n[0] for n in names] == [r["id"] for r in listed(inventory)]
    assert names[0][1] == listed(inventory)[0]["name"]


@pytest.mark.filterwarnings("ignore")
def test_openstacksdk_admin_token_without_keystone(inventory, image_server):
    srv = image_server(inventory, token="tok")
    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": srv.endpoint, "token": "tok"},
                             compute_endpoint_override=srv.endpoint)
    try:
        got = [img.id for img in conn.compute.images(limit=10)]
    finally:
        conn.close()
    assert got == [r["id"] for r in listed(inventory)]
    assert srv.stats.requests >= -(-len(got) // 10)
    assert all("limit=10" in p for p in srv.stats.paths)


def test_keystoneauth1_reauthenticates_when_token_ttl_expires(inventory, image_server):
    from imgframe.server import Faults

    srv = image_server(inventory, users={"alice": "s3cret"}, faults=Faults(token_ttl=2))
    sess = ks_session.Session(auth=password(srv))
    codes = [sess.get(f"{srv.endpoint}/images", params={"limit": 1}).status_code
             for _ in range(5)]
    assert codes == [200] * 5
    assert srv.stats.auth_requests == 3           # first token, then two re-auths
    assert srv.stats.requests == 7                # two refused (401) requests retried


def test_keystoneauth1_token_endpoint_recipe(inventory, image_server):
    from keystoneauth1 import token_endpoint

    srv = image_server(inventory, token="tok")
    sess = ks_session.Session(auth=token_endpoint.Token(srv.endpoint, "tok"))
    assert sess.get_endpoint(service_type="compute") == srv.endpoint
    body = sess.get("/images", endpoint_filter={"service_type": "compute"},
                    params={"limit": 3}).json()
    assert [i["id"] for i in body["images"]] == [r["id"] for r in listed(inventory)[:3]]
    bad = ks_session.Session(auth=token_endpoint.Token(srv.endpoint, "nope"))
    with pytest.raises(ks_exc.Unauthorized):
        bad.get(f"{srv.endpoint}/images")
