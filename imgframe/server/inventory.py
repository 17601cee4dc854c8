"""A deterministic, realistic image catalogue: `sample_inventory(n, seed)`.

Each record looks like what Glance v2 hands to Nova (a Glance-like dict, not the Nova view):

    {"id": "3f1c...-...", "name": "ubuntu-22.04-server-amd64-20240501", "status": "active",
     "created_at": datetime(UTC), "updated_at": datetime(UTC) | None,
     "min_ram": 1024, "min_disk": 10, "size": 673382400 | None,
     "properties": {"os_distro": "ubuntu", "architecture": "x86_64", "hw_disk_bus": "virtio",
                    "__os_type": "Linux", "__imagetype": "gold", ...},
     "visibility": "public", "owner": "6f70...", "protected": False, "os_hidden": False,
     "disk_format": "qcow2" | None, "container_format": "bare" | None,
     "checksum": "<md5 hex>" | None, "os_hash_algo": "sha512" | None,
     "os_hash_value": "<sha512 hex>" | None, "virtual_size": 2147483648 | None,
     "tags": ["lts", "cis-hardened"]}

The random draws are vectorised with numpy (one Generator, seeded), so a million records take a
few seconds; the only per-record Python work is assembling the dicts. The Glance-only fields
(visibility ... tags) come from a second Generator, so adding them left every earlier field
and its distribution exactly as it was.

Visibility follows the Huawei ``__imagetype`` property (gold -> public, private -> private,
shared -> shared), with about 12% of gold and 7% of private images community instead.
Owners are four projects: the served `project_id` (own images), a cloud "admin" project that
owns most public images, and two other tenants; about 1% of public images have no owner.
Hidden (``os_hidden``) is about 3%. Formats, checksums and hashes are null where Glance has
them null (queued images have no formats; no size means no checksum or hash).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

__all__ = ["DEFAULT_PROJECT_ID", "GLANCE_STATUSES", "OTHER_PROJECTS", "TAGS",
           "sample_inventory"]

DEFAULT_PROJECT_ID = "6f70656e737461636b20726f636b7321"   # hex("openstack rocks!")
#: the other owners: the cloud's admin project (most public images), then two tenants
OTHER_PROJECTS = ("0dc1a55e1d5f4b6c8a7e9f3b2c4d6e80", "7e4a4b1f6c2d4e8f9a0b1c2d3e4f5a6b",
                  "c0ffee00c0ffee00c0ffee00c0ffee00")
#: tag vocabulary and how often each occurs (lts only on long-term-support families)
TAGS = (("lts", 0.0), ("gpu", 0.06), ("cis-hardened", 0.10), ("fips", 0.04),
        ("minimal", 0.10), ("golden", 0.0), ("deprecated", 0.05), ("team:data", 0.03))
LTS_FAMILIES = ("ubuntu", "debian", "rocky", "almalinux", "centos", "windows")
DISK_FORMATS = (("qcow2", 0.48), ("raw", 0.20), ("vhd", 0.08), ("zvhd2", 0.17), ("iso", 0.03),
                ("vmdk", 0.04))
CONTAINER_FORMATS = (("bare", 0.93), ("ovf", 0.05), ("ova", 0.02))
GIB = 1 << 30

UTC = dt.timezone.utc

#: Glance v2 statuses and their share of a typical public+private catalogue.
GLANCE_STATUSES = (
    ("active", 0.880),
    ("queued", 0.020),
    ("saving", 0.015),
    ("killed", 0.015),
    ("deleted", 0.025),
    ("pending_delete", 0.010),
    ("deactivated", 0.020),
    ("importing", 0.010),
    ("uploading", 0.005),
)

#: the catalogue ends here; it spans about two years before it.
END = dt.datetime(2026, 10, 31, tzinfo=UTC)
SPAN_DAYS = 730

# family, weight, versions, name pattern, os_type, min_ram, min_disk, size (bytes, lo-hi)
# name patterns use {v} (version), {a} (arch word), {d} (build date YYYYMMDD)
FAMILIES = (
    ("ubuntu", 0.22, ("20.04", "22.04", "24.04", "26.04"), "ubuntu-{v}-server-{a}-{d}", "Linux",
     (0, 512, 1024, 2048), (0, 8, 10, 20), (6.0e8, 2.6e9)),
    ("debian", 0.10, ("11", "12", "13"), "debian-{v}-generic-{a}-{d}", "Linux",
     (0, 512, 1024), (0, 4, 8, 10), (3.5e8, 1.2e9)),
    ("rocky", 0.07, ("8.10", "9.4", "9.6"), "Rocky-{v}-GenericCloud-Base.{d}.{a}", "Linux",
     (1024, 2048), (10, 20), (9.0e8, 1.9e9)),
    ("centos", 0.05, ("7.9", "stream-9", "stream-10"), "centos-{v}-{a}-{d}", "Linux",
     (512, 1024, 2048), (8, 10, 20), (8.0e8, 1.4e9)),
    ("almalinux", 0.04, ("8.10", "9.5"), "AlmaLinux-{v}-GenericCloud-{d}.{a}", "Linux",
     (1024, 2048), (10, 20), (5.0e8, 1.2e9)),
    ("fedora", 0.04, ("40", "41", "42", "43"), "Fedora-Cloud-Base-Generic-{v}-{d}.{a}", "Linux",
     (1024, 2048), (5, 10), (4.0e8, 6.0e8)),
    ("opensuse", 0.03, ("15.5", "15.6"), "openSUSE-Leap-{v}-Minimal-VM.{a}-{d}", "Linux",
     (1024,), (10, 20), (3.0e8, 7.0e8)),
    ("euleros", 0.04, ("2.9", "2.10", "2.12"), "EulerOS {v} 64bit {d}", "Linux",
     (1024, 2048), (40,), (1.0e9, 3.0e9)),
    ("windows", 0.11, ("2016", "2019", "2022", "2025"), "windows-server-{v}-datacenter-{d}",
     "Windows", (2048, 4096, 8192), (40, 50, 60), (9.0e9, 2.1e10)),
    ("cirros", 0.03, ("0.5.2", "0.6.2", "0.6.3"), "cirros-{v}-{a}-disk", "Linux",
     (0, 64, 128), (0, 1), (1.5e7, 2.2e7)),
)
# release days: an image of a version is never older than the version itself
RELEASED = {
    "ubuntu": ("2020-04-23", "2022-04-21", "2024-04-25", "2026-04-23"),
    "debian": ("2021-08-14", "2023-06-10", "2025-08-09"),
    "rocky": ("2024-05-30", "2024-05-09", "2025-06-04"),
    "centos": ("2020-11-12", "2021-12-03", "2024-12-12"),
    "almalinux": ("2024-05-28", "2024-11-18"),
    "fedora": ("2024-04-23", "2024-10-29", "2025-04-15", "2025-10-28"),
    "opensuse": ("2023-06-07", "2024-06-12"),
    "euleros": ("2020-09-30", "2021-12-30", "2023-06-30"),
    "windows": ("2016-10-12", "2018-10-02", "2021-08-18", "2024-11-01"),
    "cirros": ("2021-03-12", "2023-05-30", "2024-09-05"),
}
SNAPSHOT_SHARE = 0.22      # snapshots and backups of servers, on top of the families
ARCHES = (("x86_64", "amd64"), ("aarch64", "arm64"))   # (Glance architecture, name word)
ARCH_IN_NAME = ("fedora", "rocky", "almalinux", "opensuse")   # use x86_64/aarch64 in names
DISPLAY = {"centos": "CentOS", "euleros": "EulerOS", "opensuse": "openSUSE",
           "almalinux": "AlmaLinux"}
STATUS_NAMES = tuple(s for s, _ in GLANCE_STATUSES)
CHUNK = 65536

SERVER_WORDS = ("web", "db", "api", "cache", "worker", "build", "jenkins", "k8s-node",
                "bastion", "gitlab", "mysql", "redis", "etl", "ml-train", "vpn")

HOSTILE_NAMES = (
    "=HYPERLINK(\"http://evil.example/\",\"click\")",
    "=1+2",
    "+SUM(A1:A9)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1,1)*cmd|' /C notepad'!A1",
    "web, db, cache (golden)",
    "quote \"double\" and 'single'",
    "line one\nline two",
    "tab\tseparated\tname",
    "carriage\rreturn",
    "ünïcödé-imàge-ßeta",
    "镜像-ubuntu-22.04-测试",
    "образ-debian-12",
    "🚀 rocket-build 2024",
    "  leading and trailing spaces  ",
    "semi;colon;name",
    "back\\slash\\path",
    "<script>alert(1)</script>",
    "name:with:colons",
    "",
)


def _release_days(start: dt.datetime, end: dt.datetime) -> np.ndarray:
    """Epoch seconds of release days in [start, end): Patch Tuesdays and distro point releases."""
    days = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        first = dt.datetime(year, month, 1, tzinfo=UTC)
        offset = (1 - first.weekday()) % 7            # first Tuesday
        days.append(first + dt.timedelta(days=offset + 7))   # second Tuesday
        days.append(dt.datetime(year, month, 25, tzinfo=UTC) if month in (4, 10)
                    else first + dt.timedelta(days=offset + 17))  # distro releases / refreshes
        month += 1
        if month == 13:
            year, month = year + 1, 1
    secs = np.array([d.timestamp() for d in days if start <= d < end], dtype=np.int64)
    return secs


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """n random version-4 UUID strings."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = raw.tobytes().hex()
    out = []
    for i in range(0, 32 * n, 32):
        h = hexes[i:i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def sample_inventory(n: int, seed: int = 0, *,
                     project_id: str = DEFAULT_PROJECT_ID) -> list[dict]:
    """A deterministic catalogue of `n` Glance-like image records.

    Same `(n, seed)` gives the same records. With n >= 9 every Glance status occurs at least
    once; about 88% are active. Names follow real distributions' patterns
    (``ubuntu-22.04-server-amd64-20240501``, ``windows-server-2022-datacenter-20240514``,
    ``web-03-snapshot-20250102``); about 1% are null and about 1% are hostile (commas, quotes,
    newlines, non-ASCII, a leading ``=``, ``+``, ``-`` or ``@``). `project_id` is the
    caller's own project among the owners (see the module docstring).

    >>> len(sample_inventory(20, seed=1))
    20
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    end = int(END.timestamp())
    start = end - SPAN_DAYS * 86400

    # --- status: realistic proportions, every status present when n >= 9
    p_s = np.array([w for _, w in GLANCE_STATUSES])
    status_idx = rng.choice(len(STATUS_NAMES), size=n, p=p_s / p_s.sum())
    if n >= len(STATUS_NAMES):
        forced = rng.choice(n, size=len(STATUS_NAMES), replace=False)
        status_idx[forced] = np.arange(len(STATUS_NAMES))

    # --- created: 55% background, 45% in bursts just after release days
    releases = _release_days(dt.datetime.fromtimestamp(start, UTC), END)
    burst = rng.random(n) < 0.45
    created = rng.integers(start, end, size=n, dtype=np.int64)
    nb = int(burst.sum())
    rel = releases[rng.integers(0, len(releases), size=nb)]
    created[burst] = rel + (rng.exponential(1.5 * 86400, size=nb)).astype(np.int64) \
        + rng.integers(0, 6 * 3600, size=nb)
    created = np.minimum(created, end - 1)
    # whole seconds, with a few deliberate ties on created_at (ordering falls back to id)
    ties = rng.random(n) < 0.01
    if n > 1:
        created[ties] = created[rng.integers(0, n, size=int(ties.sum()))]

    # --- updated: upload finished minutes later; some touched again weeks later; few null
    upd = created + rng.integers(30, 3 * 3600, size=n)
    later = rng.random(n) < 0.18
    upd[later] = created[later] + rng.integers(86400, 200 * 86400, size=int(later.sum()))
    upd = np.minimum(upd, end + 20 * 86400)
    upd_null = rng.random(n) < 0.004

    # --- family or snapshot
    fam_w = np.array([f[1] for f in FAMILIES])
    fam_idx = rng.choice(len(FAMILIES), size=n, p=fam_w / fam_w.sum())
    is_snap = rng.random(n) < SNAPSHOT_SHARE
    snap_backup = rng.random(n) < 0.15           # of snapshots: image_type=backup
    volume_backed = rng.random(n) < 0.3          # of snapshots: block_device_mapping list
    ver_r = rng.random(n)
    arm = rng.random(n) < 0.12
    ram_r = rng.random(n)
    disk_r = rng.random(n)
    size_r = rng.random(n)
    gold = rng.random(n)
    bus_scsi = rng.random(n) < 0.15
    uefi = rng.random(n) < 0.25
    dcf = rng.random(n)                          # auto_disk_config on ~20%
    null_name = rng.random(n) < 0.01
    hostile = rng.random(n) < 0.012
    hostile_pick = rng.integers(0, len(HOSTILE_NAMES), size=n)
    if n >= 2 * len(HOSTILE_NAMES) + 20:
        # make sure each hostile shape and a null name occur at least once
        forced = rng.choice(n, size=len(HOSTILE_NAMES) + 1, replace=False)
        hostile[forced[:-1]] = True
        hostile_pick[forced[:-1]] = np.arange(len(HOSTILE_NAMES))
        null_name[forced[-1]] = True
        hostile[forced[-1]] = False
    server_word = rng.integers(0, len(SERVER_WORDS), size=n)
    server_num = rng.integers(1, 40, size=n)
    extra_null = rng.random(n) < 0.03            # a property with a null value
    vol_size = rng.choice(np.array([10, 20, 40, 50, 80, 100]), size=n)
    uuids = _uuids(rng, n)
    server_uuids = _uuids(rng, n)
    user_ids = [u.replace("-", "") for u in _uuids(rng, 40)]

    glance = _glance_draws(np.random.default_rng([seed, 0x61A9CE]), n, fam_idx, is_snap, gold)
    owners = (project_id, *OTHER_PROJECTS, None)

    arrays = (status_idx, created, upd, upd_null, fam_idx, is_snap, snap_backup, volume_backed,
              ver_r, arm, ram_r, disk_r, size_r, gold, bus_scsi, uefi, dcf, null_name, hostile,
              hostile_pick, server_word, server_num, extra_null, vol_size, *glance)
    fromts = dt.datetime.fromtimestamp
    release_epochs = [[int(dt.datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp())
                       for d in RELEASED[f[0]]] for f in FAMILIES]
    base_props: dict[tuple, dict] = {}    # shared strings: one base dict per OS combination
    records = []
    i = -1
    for lo_i in range(0, n, CHUNK):       # chunks keep the temporary Python lists small
        chunk = [a[lo_i:lo_i + CHUNK].tolist() for a in arrays]
        for (st_i, c, u, u_null, f_i, snap, backup, vol, vr, is_arm, rr, dr, sr, g, scsi,
             efi, dc, nn, hos, hp, sw, sn, xn, vs, vis, own, prot, hid, dfmt, cfmt, vsz, tagm
             ) in zip(*chunk, strict=True):
            i += 1
            family, _, versions, pattern, os_type, rams, disks, (lo, hi) = FAMILIES[f_i]
            v_i = int(vr * len(versions))
            released = release_epochs[f_i]
            while v_i and released[v_i] > c:          # not out yet: an older version
                v_i -= 1
            is_arm = is_arm and family != "windows"
            kind = 0 if g < 0.6 else (1 if g < 0.9 else 2)
            key = (f_i, v_i, is_arm, scsi, efi, kind, g > 0.97)
            base = base_props.get(key)
            if base is None:
                base = base_props[key] = _base_properties(*key)
            props = dict(base)
            created_at = fromts(c, UTC)
            day = created_at.strftime("%Y%m%d")
            status = STATUS_NAMES[st_i]
            min_disk = disks[int(dr * len(disks))]
            size = int(lo + (hi - lo) * sr) // 512 * 512
            if snap:
                server_name = f"{SERVER_WORDS[sw]}-{sn:02d}"
                name = f"{server_name}-{'daily' if backup else 'snapshot'}-{day}"
                props["image_type"] = "backup" if backup else "snapshot"
                props["instance_uuid"] = server_uuids[i]
                props["user_id"] = user_ids[sn % len(user_ids)]
                props["base_image_ref"] = uuids[(i * 31 + 7) % n]
                props["__imagetype"] = "private"
                if backup:
                    props["backup_type"] = "daily"
                min_disk = max(min_disk, 10)
                if vol:
                    props["bdm_v2"] = "True"
                    props["root_device_name"] = "/dev/vda"
                    props["block_device_mapping"] = [{
                        "boot_index": 0, "source_type": "snapshot", "destination_type": "volume",
                        "device_name": "/dev/vda", "snapshot_id": server_uuids[(i + 1) % n],
                        "volume_size": vs, "delete_on_termination": True, "disk_bus": "virtio",
                        "guest_format": None, "volume_type": None, "tag": None,
                    }]
                    size = 0
                else:
                    size = int(size * 1.7)
            else:
                word = ARCHES[is_arm][1 if family not in ARCH_IN_NAME else 0]
                name = pattern.format(v=versions[v_i], a=word, d=day)
            if dc < 0.2:
                props["auto_disk_config"] = "True" if dc < 0.12 else "False"
            if xn:
                props["ramdisk_id"] = None
            if nn:
                name = None
            elif hos:
                name = HOSTILE_NAMES[hp]
            if status == "queued" or (status in ("importing", "uploading", "killed")
                                      and sr < 0.6):
                size = None
            image_id = uuids[i]
            queued = status == "queued"
            disk_format = None if queued else DISK_FORMATS[dfmt][0]
            if size is None:
                checksum = hash_value = virtual_size = None
            else:
                seedbytes = f"{image_id}:{size}".encode()
                checksum = hashlib.md5(seedbytes).hexdigest()
                hash_value = hashlib.sha512(seedbytes).hexdigest()
                if disk_format in ("raw", "iso"):
                    virtual_size = size
                elif vsz < 0.6:
                    virtual_size = max(size, -(-int(size * (1 + vsz * 3)) // GIB) * GIB,
                                       min_disk * GIB)
                else:
                    virtual_size = None
            records.append({
                "id": image_id,
                "name": name,
                "status": status,
                "created_at": created_at,
                "updated_at": None if u_null else fromts(max(u, c), UTC),
                "min_ram": rams[int(rr * len(rams))],
                "min_disk": min_disk,
                "size": size,
                "properties": props,
                "visibility": VISIBILITIES[vis],
                "owner": owners[own],
                "protected": bool(prot),
                "os_hidden": bool(hid),
                "disk_format": disk_format,
                "container_format": None if queued else
                ("bare" if disk_format == "iso" else CONTAINER_FORMATS[cfmt][0]),
                "checksum": checksum,
                "os_hash_algo": None if size is None else "sha512",
                "os_hash_value": hash_value,
                "virtual_size": virtual_size,
                "tags": list(TAG_SETS[tagm]),
            })
    return records


VISIBILITIES = ("public", "private", "shared", "community")
TAG_SETS = tuple(tuple(t for b, (t, _) in enumerate(TAGS) if m >> b & 1)
                 for m in range(1 << len(TAGS)))


def _glance_draws(rng: np.random.Generator, n: int, fam_idx, is_snap, gold) -> tuple:
    """Vectorised Glance-only fields: (visibility, owner, protected, hidden, disk format,
    container format, virtual-size draw, tag bitmask) index arrays, one entry per record."""
    kind = np.where(is_snap, 1, np.where(gold < 0.6, 0, np.where(gold < 0.9, 1, 2)))
    r = rng.random(n)
    vis = np.where(kind == 0, np.where(r < 0.88, 0, 3),
                   np.where(kind == 1, np.where(r < 0.93, 1, 3), 2))
    o = rng.random(n)
    other = rng.integers(2, 4, size=n)               # one of the two tenants
    # owner index: 0 own project, 1 admin project, 2/3 tenants, 4 no owner
    owner = np.where(vis == 0, np.where(o < 0.79, 1, np.where(o < 0.99, 0, 4)),
                     np.where(vis == 1, np.where(o < 0.8, 0, other),
                              np.where(o < (np.where(vis == 2, 0.4, 0.3)), 0, other)))
    protected = rng.random(n) < np.where(vis == 0, 0.3, 0.03)
    hidden = rng.random(n) < 0.03
    p_d = np.array([w for _, w in DISK_FORMATS])
    disk = rng.choice(len(DISK_FORMATS), size=n, p=p_d / p_d.sum())
    p_c = np.array([w for _, w in CONTAINER_FORMATS])
    container = rng.choice(len(CONTAINER_FORMATS), size=n, p=p_c / p_c.sum())
    vsize = rng.random(n)
    names = [t for t, _ in TAGS]
    fam_names = np.array([f[0] for f in FAMILIES])[fam_idx]
    prob = np.tile(np.array([w for _, w in TAGS]), (n, 1))
    prob[:, names.index("lts")] = np.where(np.isin(fam_names, LTS_FAMILIES) & ~is_snap, 0.6, 0)
    prob[:, names.index("golden")] = np.where((vis == 0) & ~is_snap, 0.15, 0)
    bits = rng.random((n, len(TAGS))) < prob
    tagmask = (bits * (1 << np.arange(len(TAGS)))).sum(axis=1)
    return vis, owner, protected, hidden, disk, container, vsize, tagmask


def _base_properties(f_i, v_i, is_arm, scsi, efi, kind, fusion) -> dict:
    """The properties every image of one OS build shares (OpenStack and Huawei keys)."""
    family, _, versions, _, os_type, *_ = FAMILIES[f_i]
    version = versions[v_i]
    props = {
        "os_distro": family,
        "os_version": version,
        "architecture": ARCHES[is_arm][0],
        "hw_disk_bus": "scsi" if scsi else "virtio",
        "hw_firmware_type": "uefi" if efi or is_arm else "bios",
        "hw_qemu_guest_agent": "yes",
        "__os_type": os_type,
        "__os_version": f"{DISPLAY.get(family, family.capitalize())} {version} 64bit",
        "__platform": DISPLAY.get(family, family.capitalize()),
        "__imagetype": ("gold", "private", "shared")[kind],
    }
    if scsi:
        props["hw_scsi_model"] = "virtio-scsi"
    if fusion:
        props["virtual_env_type"] = "FusionCompute"
    return props
