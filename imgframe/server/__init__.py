"""imgframe.server: embedded, faithful image endpoints (Nova, Glance v2, Huawei IMS) over one
catalogue, plus a tiny Keystone.

One module per API: `nova_api` (below), `glance_api` (``{srv.glance_endpoint}/v2/images``,
``srv.glance_endpoint == f"{srv.url}/image"``: Glance 33's filters, defaults, links and
their bugs, HTML/JSON errors) and `ims_api` (``{srv.ims_endpoint}/v2/cloudimages``,
``srv.ims_endpoint == f"{srv.url}/ims"``: marker paging without links, a silent maximum
page size, ``__*`` string fields, placeholders; token or AK/SK auth), all over one
`catalog.Catalog`; `handler` routes and knows none of them.

Servers and volumes (``ImageServer(servers=True)``, over one `cloud.Cloud` made by
`sample_cloud(images, seed)` from the same catalogue): `servers_api` (Nova 34's
``{srv.endpoint}/servers[/detail|/{id}]`` and ``/v2.1/os-services``: paging, filters,
scope, soft-deleted and deleted servers, microversions with 2.69's down-cell items),
`volumes_api` (Cinder's ``{srv.volume_endpoint}/volumes[/detail]``) and `ecs_api` (Huawei
ECS ``{srv.ecs_endpoint}/v1/{project_id}/cloudservers/detail``).

A real HTTP server on 127.0.0.1 that answers ``GET /{v2|v2.1}[/{project_id}]/images``,
``.../images/detail`` and ``.../images/{id}`` (and ``DELETE .../images/{id}``) as Nova 34
(proxying Glance 33) does: Glance's filter semantics, keyset paging in ``created_at DESC,
id DESC`` order, Nova's next links, views, fault bodies, microversion cut-off at 2.35, and
optional token auth. Like a real proxy it lists what Glance's default listing shows the
caller (a member of `project_id`): no hidden images, no other project's private or
community images. Use it to try
imgframe offline and as a test double for your own code (as people use moto for AWS)::

    from imgframe.server import ImageServer, serve

    with ImageServer(10_000, seed=0, token="secret") as srv:
        requests.get(f"{srv.endpoint}/images/detail", params={"limit": 100},
                     headers={"X-Auth-Token": "secret"}).json()

    with serve(1000) as url:                  # base URL, e.g. http://127.0.0.1:40213
        ...

Data: `sample_inventory(n, seed)` (deterministic Glance-like records); faults for tests:
`Faults` (see `imgframe.server.faults`).

Keystone (``{srv.url}/identity/v3``) is enabled with ``users={"alice": "pw"}``; its catalog
names the compute endpoint ``{srv.url}/v2.1/{project_id}``.

keystoneauth1::

    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    auth = v3.Password(auth_url=srv.auth_url, username="alice", password="pw",
                       project_id=srv.project_id, user_domain_id="default")
    sess = session.Session(auth=auth)
    endpoint = sess.get_endpoint(service_type="compute", interface="public")
    sess.get(f"{endpoint}/images/detail", params={"limit": 100}).json()

keystoneauth1 with a plain token and no keystone (``ImageServer(token="secret")``)::

    from keystoneauth1 import token_endpoint
    sess = session.Session(auth=token_endpoint.Token(srv.endpoint, "secret"))
    sess.get(f"{srv.endpoint}/images", params={"limit": 100}).json()

openstacksdk with a password (catalog lookup)::

    conn = openstack.connect(auth_url=srv.auth_url, username="alice", password="pw",
                             project_id=srv.project_id, user_domain_id="default",
                             region_name="RegionOne")
    [img.name for img in conn.compute.images()]

openstacksdk with a plain token and no keystone (``ImageServer(token="secret")``)::

    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": srv.endpoint, "token": "secret"},
                             compute_endpoint_override=srv.endpoint)   # optional here
    list(conn.compute.images())            # follows images_links; limit=... pages

`srv.warm()` renders every image ahead of time, so a client benchmark measures the client.
"""

from imgframe.server.app import DEFAULT_PROJECT_ID, ImageServer, Stats, serve
from imgframe.server.cloud import Cloud, sample_cloud
from imgframe.server.faults import Faults
from imgframe.server.inventory import GLANCE_STATUSES, sample_inventory

__all__ = [
    "Cloud",
    "DEFAULT_PROJECT_ID",
    "Faults",
    "GLANCE_STATUSES",
    "ImageServer",
    "Stats",
    "sample_cloud",
    "sample_inventory",
    "serve",
]
