"""What kind of image each row is, from its properties, before anything is grouped:
an image, a snapshot or backup of a server, a volume-backed snapshot, or the
``<server>-shelved`` image of a shelved server. Pure.

Snapshots inherit their base image's properties (``os_distro``, ``hw_*``), so a family
built from those alone lumps them in with the OS; this classifies them first (reference
``usage.md`` §0.5, §3.3 and §3.4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgframe.frame import STRING

__all__ = ["BACKUP", "IMAGE", "IMAGE_KINDS", "KIND_DTYPE", "SHELVED_IMAGE", "SNAPSHOT",
           "VOLUME_SNAPSHOT", "image_kinds", "kinds_of", "rows_with"]

IMAGE_KINDS = ("image", "snapshot", "backup", "volume-backed snapshot",
               "shelved-server image")
KIND_DTYPE = pd.CategoricalDtype(list(IMAGE_KINDS))
#: the category codes of :data:`IMAGE_KINDS`
IMAGE, SNAPSHOT, BACKUP, VOLUME_SNAPSHOT, SHELVED_IMAGE = range(len(IMAGE_KINDS))
_META_KEYS = frozenset({"image_type", "instance_uuid", "block_device_mapping", "bdm_v2",
                        "__data_origin", "__backup_id", "__whole_image", "__imagetype",
                        "kernel_id", "ramdisk_id", "instance_owner"})
_TRUE = frozenset({"true", "True", "TRUE", "1", "yes", True})


def rows_with(meta: np.ndarray, keys: frozenset) -> np.ndarray:
    """The positions of the property dicts in ``meta`` that have any of ``keys``: one
    C-level pass when every cell is a dict (what the loaders make), else a Python one."""
    cells = meta.tolist()
    if set(map(type, cells)) <= {dict}:
        disjoint = np.fromiter(map(keys.isdisjoint, cells), dtype=bool, count=len(cells))
        return np.flatnonzero(~disjoint)
    return np.array([i for i, m in enumerate(cells) if type(m) is dict
                     and not keys.isdisjoint(m)], dtype=np.int64)


def image_kinds(images: pd.DataFrame) -> pd.DataFrame:
    """``kind`` (:data:`KIND_DTYPE`), ``parent_server`` and ``parent_project`` of each
    image, from its properties (``metadata``), ``name``, ``size`` and, for the Nova proxy,
    ``server_id``:

    * Huawei: ``__backup_id`` or ``__whole_image`` -> backup; ``__data_origin``
      ``instance,<ecs id>`` -> snapshot of that server; ``__imagetype`` gold/market -> image;
    * Nova: ``image_type`` backup -> backup, snapshot -> snapshot (``shelved-server image``
      when named ``<server>-shelved``), parent ``instance_uuid`` (or the proxy's
      ``server.id``); no ``image_type`` but ``block_device_mapping``/``bdm_v2`` and size 0
      (or unknown) -> volume-backed snapshot (its data is in Cinder snapshots; no parent);
    * anything else -> image. ``parent_project`` is ``instance_owner`` (an admin's snapshot
      of another project's server) or the image's ``owner``.
    """
    codes, parents, instance_owners = kinds_of(images)
    projects = images["owner"].to_numpy(dtype=object, na_value=None) if "owner" in images \
        else np.full(len(images), None, dtype=object)
    for i, project in instance_owners.items():
        projects[i] = project
    return pd.DataFrame({
        "kind": pd.Categorical.from_codes(codes, dtype=KIND_DTYPE),
        "parent_server": pd.array(parents, dtype=STRING),
        "parent_project": pd.array(projects, dtype=STRING)}, index=images.index)


def kinds_of(images: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`image_kinds` as arrays: the kind codes, the parent servers (object array,
    None for none), and ``{position: instance_owner}`` where a snapshot's server is
    another project's (the parent project is the image's owner elsewhere)."""
    n = len(images)
    codes = np.zeros(n, dtype=np.int8)
    parents = np.full(n, None, dtype=object)
    owners: dict = {}
    if "metadata" not in images or not n:
        return codes, parents, owners
    meta = images["metadata"].to_numpy(dtype=object)
    hits = rows_with(meta, _META_KEYS)
    if len(hits):
        def at(name):
            if name not in images:
                return [None] * len(hits)
            return images[name].take(hits).to_numpy(dtype=object, na_value=None).tolist()

        for i, name, size, proxy in zip(hits.tolist(), at("name"), at("size"),
                                        at("server_id"), strict=True):
            codes[i], parents[i] = _kind_of(meta[i], name, size, proxy)
            instance_owner = meta[i].get("instance_owner")
            if isinstance(instance_owner, str) and instance_owner:
                owners[i] = instance_owner
    return codes, parents, owners


def _true(value) -> bool:
    """A property that says yes (Glance keeps ``bdm_v2=True`` as the string "True")."""
    return isinstance(value, (str, bool)) and value in _TRUE


def _kind_of(m: dict, name, size, proxy_server) -> tuple[int, str | None]:
    origin = m.get("__data_origin")
    ecs = origin.split(",", 1)[1] or None if isinstance(origin, str) and \
        origin.startswith("instance,") else None
    if m.get("__backup_id") or _true(m.get("__whole_image")):
        return BACKUP, ecs
    if ecs:
        return SNAPSHOT, ecs
    if m.get("__imagetype") in ("gold", "market"):
        return IMAGE, None
    image_type = m.get("image_type")
    parent = m.get("instance_uuid") or proxy_server
    parent = parent if isinstance(parent, str) and parent else None
    if image_type == "backup":
        return BACKUP, parent
    if image_type == "snapshot":
        shelved = isinstance(name, str) and name.endswith("-shelved")
        return (SHELVED_IMAGE if shelved else SNAPSHOT), parent
    if (m.get("block_device_mapping") or _true(m.get("bdm_v2"))) and size in (0, None):
        return VOLUME_SNAPSHOT, None
    return IMAGE, None
