"""What the embedded endpoint should list, worked out from its records: shared by the
tests that compare a listing with the catalogue (imported as ``expected``)."""

from imgframe.server import DEFAULT_PROJECT_ID

#: Glance statuses no listing shows (reference: nova-images-api.md)
NOT_LISTED = frozenset({"killed", "deleted", "pending_delete"})


def default_listing(record: dict, project: str = DEFAULT_PROJECT_ID) -> bool:
    """Glance's default listing for ``project``, which Nova's proxy lists: no hidden
    images, no other project's private or community images."""
    return not record["os_hidden"] and (record["owner"] == project
                                        or record["visibility"] in ("public", "shared"))


def nova_lists(record: dict, project: str = DEFAULT_PROJECT_ID) -> bool:
    """Whether Nova's images list shows ``record`` to ``project``."""
    return record["status"] not in NOT_LISTED and default_listing(record, project)
