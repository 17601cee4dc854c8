"""usage() on 1,000,000 images, 1,000,000 servers and 200,000 volumes, against a plain
pandas merge of the same frames, timed in the same run.

    .venv/bin/python bench/bench_usage.py                      # 1,000,000 each
    .venv/bin/python bench/bench_usage.py --images 100000 --servers 100000 --repeat 3

The frames are typed as the loaders make them (imgframe's image columns; the servers and
volumes columns of imgframe.sources.servers/volumes) and built synthetically, with no HTTP:
a tenth of the images are snapshots of servers (some gone), a few are kernels named by
other images, most servers boot from a listed image, a tenth from a volume, a twentieth
from an image the frame lacks; every scope is complete (an admin's all-projects listing),
so every verdict is worked out in full. Baselines: ``images.merge(servers, left_on="id",
right_on="image_id", how="left")`` (a join, no verdict) and the same merge plus the
per-image referrer count (``groupby(...).size()``). Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from imgframe.frame import DTYPES as IMAGE_DTYPES
from imgframe.frame import STRING
from imgframe.sources import servers as srv
from imgframe.sources import volumes as vol
from imgframe.sources.resources import Scope
from imgframe.usage import usage


def _strings(values) -> pd.arrays.ArrowStringArray:
    return pd.array(values, dtype=STRING)


def build(n_images: int, n_servers: int, n_volumes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    image_ids = [f"img-{i:08d}" for i in range(n_images)]
    server_ids = [f"srv-{i:08d}" for i in range(n_servers)]
    snap = rng.random(n_images) < 0.10
    kernel = rng.random(n_images) < 0.01
    parents = rng.integers(0, int(n_servers * 1.1) + 1, n_images)   # some never existed
    meta = []
    for i in range(n_images):
        if snap[i]:
            meta.append({"image_type": "snapshot", "instance_uuid": f"srv-{parents[i]:08d}",
                         "os_distro": "ubuntu"})
        elif kernel[i]:
            meta.append({"kernel_id": image_ids[(i * 7919) % n_images], "os_distro": "cirros"})
        else:
            meta.append({"os_distro": "ubuntu", "hw_disk_bus": "virtio"})
    visibility = np.where(rng.random(n_images) < 0.8, "private", "public")
    images = pd.DataFrame({
        "id": _strings(image_ids),
        "name": _strings([f"image {i}" for i in range(n_images)]),
        "visibility": _strings(visibility.tolist()),
        "owner": _strings([f"project-{i % 500}" for i in range(n_images)]),
        "size": pd.array(rng.integers(0, 1 << 34, n_images), dtype="Int64"),
        "metadata": pd.Series(meta, dtype=object),
    })
    images = images.astype({c: IMAGE_DTYPES[c] for c in images.columns})

    pick = rng.random(n_servers)
    targets = rng.integers(0, n_images, n_servers)
    image_of = [None if p < 0.10 else f"gone-{t}" if p < 0.15 else image_ids[t]
                for p, t in zip(pick, targets, strict=True)]
    status = rng.choice(["ACTIVE", "SHUTOFF", "ERROR", "SHELVED_OFFLOADED", "SOFT_DELETED",
                         "DELETED"], n_servers, p=[0.7, 0.12, 0.03, 0.05, 0.05, 0.05])
    raw = {"id": server_ids, "name": [f"server {i}" for i in range(n_servers)],
           "status": status.tolist(), "project_id": [f"project-{i % 500}"
                                                      for i in range(n_servers)],
           "image_id": image_of, "boot": ["volume" if t is None else "image"
                                          for t in image_of]}
    servers = pd.DataFrame({c: pd.Series(raw[c], dtype=srv.DTYPES[c]) if c in raw
                            else pd.Series([None] * n_servers, dtype=srv.DTYPES[c])
                            for c in srv.COLUMNS})
    servers.attrs["imgframe"] = {"scope": Scope(
        "servers", "nova", all_projects=True, admin=True, every_page=True, cells="up",
        soft_deleted=True, deleted=True).as_dict()}

    vtargets = rng.integers(0, n_images, n_volumes)
    vraw = {"id": [f"vol-{i:08d}" for i in range(n_volumes)],
            "status": ["in-use"] * n_volumes,
            "image_id": [image_ids[t] if t % 3 else None for t in vtargets.tolist()]}
    volumes = pd.DataFrame({c: pd.Series(vraw[c], dtype=vol.DTYPES[c]) if c in vraw
                            else pd.Series([None] * n_volumes, dtype=vol.DTYPES[c])
                            for c in vol.COLUMNS})
    volumes.attrs["imgframe"] = {"scope": Scope(
        "volumes", "cinder", all_projects=True, admin=True, every_page=True).as_dict()}
    return images, servers, volumes


def timed(func, repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``repeat`` runs (CPU time is the steadier figure on
    a shared machine), and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        out = None
        c0, t0 = time.process_time(), time.perf_counter()
        out = func()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1_000_000)
    ap.add_argument("--servers", type=int, default=1_000_000)
    ap.add_argument("--volumes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    images, servers, volumes = build(args.images, args.servers, args.volumes)
    print(f"built {len(images):,} images, {len(servers):,} servers, {len(volumes):,} volumes "
          f"in {time.perf_counter() - t0:.1f} s (not timed below)")

    def merge():
        return images.merge(servers, left_on="id", right_on="image_id", how="left",
                            suffixes=("", "_server"))

    def merge_count():
        joined = images[["id"]].merge(servers[["id", "image_id"]], left_on="id",
                                      right_on="image_id", how="left",
                                      suffixes=("", "_server"))
        return joined.groupby("id", sort=False)["id_server"].count()

    t_usage, c_usage, result = timed(lambda: usage(images, servers, volumes), args.repeat)
    t_merge, c_merge, _ = timed(merge, args.repeat)
    t_count, c_count, _ = timed(merge_count, args.repeat)
    verdicts = result["verdict"].value_counts().to_dict()
    print(f"verdicts {verdicts}; {len(result.attrs['imgframe']['missing']['server_id']):,} "
          "servers of images not listed")
    print(f"{'':28} {'wall s':>7} {'cpu s':>7} {'usage/this (wall, cpu)':>24}")
    for name, wall, cpu in (("usage()", t_usage, c_usage),
                            ("pandas merge (baseline)", t_merge, c_merge),
                            ("pandas merge + count", t_count, c_count)):
        print(f"{name:28} {wall:7.2f} {cpu:7.2f} {t_usage / wall:11.2f}x {c_usage / cpu:10.2f}x")
    print(f"median of {args.repeat}; pandas {pd.__version__}, string storage "
          f"{STRING.storage}")


if __name__ == "__main__":
    main()
