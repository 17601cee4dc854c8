"""Write the golden frames tests/test_golden.py compares against (issue 21: "the frames are
identical (columns, dtypes, values, order, attrs) before and after for each source").

The frames were saved from main at 613755a, before the core was carved up (the dtypes
files record the commit and the tree of ``imgframe/`` that made them). Regenerate them only
from that tree (or from a tree whose frames are meant to change, saying why in the commit),
in both environments: ``PYTHONPATH`` names the tree whose imgframe is recorded, ``--out``
this directory (REPO is this checkout; the venvs are the project's two)::

    git -C $REPO worktree add --detach /tmp/golden-base 613755a
    cd /tmp/golden-base
    PYTHONPATH=$PWD $REPO/.venv/bin/python $REPO/tests/data/make_golden.py \
        --out $REPO/tests/data/golden
    PYTHONPATH=$PWD $REPO/.venv-nopyarrow/bin/python $REPO/tests/data/make_golden.py \
        --out $REPO/tests/data/golden
    git -C $REPO worktree remove /tmp/golden-base

Frames that change show in ``git diff`` (one row a line); the test then says which rows
and columns differ.

What is stored (plain JSON, no pyarrow and no pickle):

* ``catalogue.json``: the embedded server's records, one a line, so the frames depend on
  the client alone, not on `sample_inventory`. Every image is public, or private or shared
  and owned by the caller's project; none is hidden, community, killed or deleted: every
  source lists all of them, whatever the server's visibility rules (issue 22 changes the
  Nova proxy's).
* ``<case>.json``, one per load in `CASES` and per frame in `DERIVED` (load_many, refresh
  and diff): columns, index, ``attrs`` and one row a line, values encoded by `encode_cell`
  (timestamps as ISO strings, a column's missing value as null, Python containers as
  JSON). The server's ``http://127.0.0.1:<port>`` reads ``http://SERVER``, the run's
  stamps (``loaded_at``, a refresh's ``based_on``; their format checked) ``<loaded_at>``,
  durations (``seconds``) ``<seconds>``; a time-partitioned load's ranges, which depend on
  which worker is free when, are summed up (`VARIES`).
* ``dtypes-<env>.json``: each case's dtypes as that environment had them (``pyarrow``:
  strings in pyarrow storage; ``python``: without pyarrow): ``str`` and ``repr`` of each
  column's dtype, its array's class and pyarrow type if any (a typed column's missing value
  is the one its dtype implies).

Values and attrs are the same in both environments (the test checks each against the same
files); only the dtypes file is chosen by environment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

import imgframe
from imgframe.server import ImageServer, sample_inventory

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
TOKEN = "golden-token"
SERVER = "http://SERVER"
LOADED_AT = "<loaded_at>"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
#: the catalogue: sample_inventory(N, SEED) without what a visibility rule could hide
N, SEED = 100, 7
PROJECT = "6f70656e737461636b20726f636b7321"     # imgframe.server.DEFAULT_PROJECT_ID
NOT_LISTED = ("killed", "deleted", "pending_delete")

#: (case, source, load keyword arguments): full loads over several pages, filtered loads,
#: Nova's list view, concurrent loads and a truncated one, on every source
CASES = (
    ("nova_detail", "nova", {"page_size": 25}),
    ("nova_list", "nova", {"detail": False, "page_size": 25}),
    ("nova_list_merged", "nova", {"detail": False, "status": ["ACTIVE", "SAVING"],
                                  "changes_since": "2026-03-01", "page_size": 10}),
    ("nova_saving_since", "nova", {"status": ["SAVING"],
                                   "changes_since": "2025-06-01T00:00:00Z"}),
    ("nova_active_since_workers", "nova", {"status": ["active", "saving"],
                                           "changes_since": "2026-05-01", "workers": 4,
                                           "page_size": 10}),
    ("nova_max_items", "nova", {"page_size": 5, "max_items": 12}),
    ("glance_detail", "glance", {"page_size": 25}),
    ("glance_saving_since", "glance", {"status": ["SAVING"],
                                       "changes_since": "2025-06-01T00:00:00Z"}),
    ("glance_active_since_workers", "glance", {"status": ["active", "saving"],
                                               "changes_since": "2026-05-01", "workers": 4,
                                               "page_size": 10}),
    ("glance_private_since", "glance", {"visibility": "private", "changes_since": "2026-01-01",
                                        "page_size": 5}),
    ("ims_detail", "ims", {"page_size": 25}),
    ("ims_saving_since", "ims", {"status": ["SAVING"],
                                 "changes_since": "2025-06-01T00:00:00Z"}),
    ("ims_active_since_workers", "ims", {"status": ["active", "saving"],
                                         "changes_since": "2026-05-01", "workers": 4,
                                         "page_size": 10}),
)


#: frames made from loads: load_many, then refresh and diff after the catalogue changed
#: (`changed_catalogue`), each on a server of its own; `derived_frames` makes them
OLD = {"changes_since": "2026-06-01", "page_size": 10}
DERIVED = (
    ("many_saving_since", "many", {"load_many": ["nova", "glance", "ims"],
                                   "status": ["SAVING"], "changes_since": "2025-06-01"}),
    ("nova_refresh", "nova", {"refresh": OLD}),
    ("glance_refresh", "glance", {"refresh": OLD}),
    ("ims_refresh", "ims", {"refresh": OLD}),
    ("nova_diff", "nova", {"diff": OLD, "with": "nova_refresh"}),
    ("glance_diff", "glance", {"diff": OLD, "with": "glance_refresh"}),
)
#: attrs keys whose value is a time stamp of the run (normalised) or its duration (dropped)
STAMP_KEYS = ("loaded_at", "based_on")
SECONDS = "<seconds>"

#: attrs that vary from run to run in a time-partitioned load (a free worker splits the range
#: with the most time ahead, when it happens to be free); `_attrs` keeps what does not vary
VARIES = ("queries", "pages", "requests", "partitions")
PARTITIONED = ("glance_active_since_workers", "ims_active_since_workers")


def environment() -> str:
    """``pyarrow`` where pandas stores strings in pyarrow, else ``python``."""
    return "pyarrow" if importlib.util.find_spec("pyarrow") else "python"


# -- the catalogue -------------------------------------------------------------------------

def build_catalogue() -> list[dict]:
    """The records every source lists in full for the served project's caller."""
    return [r for r in sample_inventory(N, seed=SEED, project_id=PROJECT)
            if not r["os_hidden"] and r["status"] not in NOT_LISTED
            and (r["visibility"] == "public"
                 or (r["visibility"] in ("private", "shared") and r["owner"] == PROJECT))]


def _record_to_json(rec: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in rec.items()}


def _record_from_json(rec: dict) -> dict:
    out = dict(rec)
    for key in ("created_at", "updated_at"):
        if out.get(key) is not None:
            out[key] = dt.datetime.fromisoformat(out[key])
    return out


def write_catalogue(records: list[dict], path: Path) -> None:
    lines = [json.dumps(_record_to_json(r), ensure_ascii=False) for r in records]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    if read_catalogue(path) != records:
        raise SystemExit(f"{path}: the records do not survive a round trip through JSON")


def read_catalogue(path: Path = GOLDEN / "catalogue.json") -> list[dict]:
    return [_record_from_json(r) for r in json.loads(path.read_text(encoding="utf-8"))]


def server(records: list[dict]) -> ImageServer:
    return ImageServer(records, project_id=PROJECT, token=TOKEN)


def client(srv: ImageServer, source: str) -> imgframe.Client:
    if source == "nova":
        return imgframe.Client(srv.url, srv.project_id, token=TOKEN)
    if source == "glance":
        return imgframe.Client(srv.glance_endpoint, source="glance", token=TOKEN)
    return imgframe.Client(srv.ims_endpoint, srv.project_id, source="ims", token=TOKEN)


def load(srv: ImageServer, source: str, options: dict) -> pd.DataFrame:
    return client(srv, source).load(progress=False, **options)


# -- frames made from loads ----------------------------------------------------------------

def _iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def changed_catalogue(srv: ImageServer, records: list[dict]) -> None:
    """Change the served catalogue as a day of work would, every change one that every
    source lists (times given, so the result does not depend on the clock): in the window
    of `OLD` one image renamed, one deactivated, one removed; one older image touched
    into the window; one public image added."""
    since = _iso(OLD["changes_since"])
    inside = [r for r in records if r["updated_at"] is not None and r["updated_at"] >= since]
    outside = [r for r in records if r["updated_at"] is not None and r["updated_at"] < since]
    srv.update_image(inside[1]["id"], name="renamed-by-golden",
                     updated_at=_iso("2026-11-25T01:02:03"))
    srv.update_image(inside[4]["id"], status="deactivated",
                     updated_at=_iso("2026-11-26T04:05:06"))
    srv.remove_image(inside[7]["id"])
    srv.update_image(outside[0]["id"], min_ram=4096, updated_at=_iso("2026-11-27T07:08:09"))
    model = next(r for r in records if r["visibility"] == "public" and r["status"] == "active")
    srv.add_image({**model, "id": "00000000-0000-4000-8000-00000000601d",
                   "name": "added-by-golden", "created_at": _iso("2026-11-28T10:11:12"),
                   "updated_at": _iso("2026-11-28T10:11:12")})


def derived_frames(records: list[dict]) -> tuple[str, dict]:
    """(the server's URL, case -> frame) of `DERIVED`, on a server of their own."""
    with server(records) as srv:
        clients = {s: client(srv, s) for s in ("nova", "glance", "ims")}
        many = imgframe.load_many(clients, status=["SAVING"], changes_since="2025-06-01")
        old = {s: c.load(progress=False, **OLD) for s, c in clients.items()}
        changed_catalogue(srv, records)
        new = {s: imgframe.refresh(clients[s], old[s]) for s in ("nova", "glance", "ims")}
        frames = {"many_saving_since": many, "nova_refresh": new["nova"],
                  "glance_refresh": new["glance"], "ims_refresh": new["ims"],
                  "nova_diff": imgframe.diff(old["nova"], new["nova"]),
                  "glance_diff": imgframe.diff(old["glance"], new["glance"])}
        return srv.url, frames


# -- one frame as JSON ---------------------------------------------------------------------

def _is_missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value))


def encode_cell(value, typed: bool):
    """One cell as JSON. In a typed column (every dtype but object) a missing value is
    null (its dtype says which sentinel) and a timestamp its ISO text;
    in an object column every Python type is kept apart: None is null, other missing
    values, tuples, timestamps and non-str dict keys are tagged."""
    if typed:
        if _is_missing(value):
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        return _plain(value)
    return _exact(value)


def _plain(value):
    if type(value) in (str, int, float, bool):
        return value
    raise TypeError(f"unexpected {type(value).__name__} in a typed column: {value!r}")


def _exact(value):
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        return {"$float": repr(value)} if math.isnan(value) or math.isinf(value) else value
    if value is pd.NA:
        return {"$na": "NA"}
    if value is pd.NaT:
        return {"$na": "NaT"}
    if isinstance(value, pd.Timestamp):
        return {"$timestamp": value.isoformat()}
    if type(value) is list:
        return [_exact(v) for v in value]
    if type(value) is tuple:
        return {"$tuple": [_exact(v) for v in value]}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: _exact(v) for k, v in value.items()}
        return {"$dict": [[_exact(k), _exact(v)] for k, v in value.items()]}
    raise TypeError(f"unexpected {type(value).__name__} in an object column: {value!r}")


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def normalise(text: str, url: str) -> str:
    """The server's address (a random port) as ``http://SERVER``."""
    return text.replace(url, SERVER)


def _attrs(attrs: dict, url: str, partitioned: bool = False):
    info = attrs.get("imgframe")
    if partitioned and isinstance(info, dict):
        attrs = {**attrs, "imgframe": {**info, **_varies(info)}}
    return json.loads(normalise(dumps(_volatile(_exact(attrs))), url))


def _volatile(value, key=None):
    """`value` (JSON) with the run's time stamps (`STAMP_KEYS`, their format checked) read
    as ``<loaded_at>`` and durations (``seconds``, a number) as ``<seconds>``."""
    if key in STAMP_KEYS and value is not None:
        if not (isinstance(value, str) and STAMP.fullmatch(value)):
            raise ValueError(f"attrs {key}={value!r} is not YYYY-MM-DDTHH:MM:SSZ")
        return LOADED_AT
    if key == "seconds" and value is not None:
        if type(value) not in (int, float):
            raise ValueError(f"attrs seconds={value!r} is not a number")
        return SECONDS
    if isinstance(value, dict):
        return {k: _volatile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_volatile(v) for v in value]
    return value


def _varies(info: dict) -> dict:
    """`VARIES` as their types, and of the partitions what every run has: the keys of every
    range and the images they kept in all."""
    out = {key: f"<varies: {type(info.get(key)).__name__}>" for key in VARIES}
    parts = info.get("partitions")
    if isinstance(parts, list) and parts and all(isinstance(p, dict) for p in parts):
        out["partitions"] = {"<varies>": "ranges", "keys": sorted(set.intersection(
            *(set(p) for p in parts))), "images": sum(p.get("images", 0) for p in parts)}
    return out


def _index(index: pd.Index):
    if isinstance(index, pd.RangeIndex):
        return {"type": "RangeIndex", "start": index.start, "stop": index.stop,
                "step": index.step, "name": index.name}
    return {"type": type(index).__name__, "name": index.name,
            "values": [_exact(v) for v in index.tolist()]}


def frame_rows(df: pd.DataFrame, url: str) -> list[str]:
    """Each row as one line of JSON text, in order (a value change is a text change)."""
    columns = []
    for name in df.columns:
        col = df[name]
        typed = col.dtype != object
        columns.append([encode_cell(v, typed) for v in col.tolist()])
    return [normalise(dumps(list(row)), url) for row in zip(*columns, strict=True)]


def frame_header(df: pd.DataFrame, url: str, partitioned: bool = False) -> dict:
    return {"rows": len(df), "columns": [str(c) for c in df.columns],
            "index": _index(df.index), "attrs": _attrs(df.attrs, url, partitioned)}


def _arrow_type(array) -> str | None:
    data = getattr(array, "_pa_array", None)
    return None if data is None else str(data.type)


def frame_dtypes(df: pd.DataFrame) -> dict:
    """What this environment makes of each column: ``[str(dtype), repr(dtype), the array's
    class, its pyarrow type or None]``, and the dtype of the column labels."""
    return {"columns_index": repr(df.columns.dtype),
            "columns": {str(name): [str(col.dtype), repr(col.dtype), type(col.array).__name__,
                                    _arrow_type(col.array)]
                        for name, col in df.items()}}


def write_dtypes(path: Path, env: str, by_case: dict) -> None:
    """One dtypes file per environment; cases with the same dtypes share one spec (named by
    its first case), one column a line."""
    specs: dict[str, dict] = {}
    cases = {}
    for case, spec in by_case.items():
        name = next((k for k, v in specs.items() if v == spec), case)
        specs.setdefault(name, spec)
        cases[case] = name
    parts = []
    for name, spec in specs.items():
        cols = ",\n".join(f"   {dumps(c)}: {dumps(v)}" for c, v in spec["columns"].items())
        parts.append(f' {dumps(name)}: {{"columns_index": {dumps(spec["columns_index"])},\n'
                     f'  "columns": {{\n{cols}}}}}')
    head = {"environment": env, "pandas": pd.__version__, "origin": _origin(), "cases": cases}
    path.write_text(dumps(head)[:-1] + ',\n"specs": {\n' + ",\n".join(parts) + "}}\n",
                    encoding="utf-8")


def read_dtypes(path: Path) -> dict:
    """case -> the dtypes `frame_dtypes` gave it in the environment `path` was written in."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {case: data["specs"][spec] for case, spec in data["cases"].items()}


def write_frame(path: Path, case: str, source: str, options: dict, df: pd.DataFrame,
                url: str) -> None:
    head = {"case": case, "source": source, "load": options,
            **frame_header(df, url, case in PARTITIONED)}
    text = dumps(head)[:-1] + ',\n"data": [\n' + ",\n".join(frame_rows(df, url)) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def read_frame(path: Path) -> dict:
    """A golden frame: its header and its rows re-encoded as `frame_rows` writes them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["data"] = [dumps(row) for row in data["data"]]
    return data


# -- the command ---------------------------------------------------------------------------

def _origin() -> dict:
    root = Path(imgframe.__file__).resolve().parent.parent

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return run.stdout.strip()

    # the tree of imgframe/ says which code made the frames whatever else was committed
    return {"commit": git("rev-parse", "HEAD"), "imgframe_tree": git("rev-parse", "HEAD:imgframe"),
            "dirty": bool(git("status", "--porcelain", "--", "imgframe"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN, help="the golden directory")
    parser.add_argument("--new-catalogue", action="store_true",
                        help="rebuild catalogue.json from sample_inventory (else reuse it)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    catalogue = out / "catalogue.json"
    if args.new_catalogue or not catalogue.exists():
        write_catalogue(build_catalogue(), catalogue)
    records = read_catalogue(catalogue)
    env = environment()
    dtypes = {}
    with server(records) as srv:
        for case, source, options in CASES:
            df = load(srv, source, options)
            write_frame(out / f"{case}.json", case, source, options, df, srv.url)
            dtypes[case] = frame_dtypes(df)
            print(f"{case}: {len(df)} rows", file=sys.stderr)
    url, frames = derived_frames(records)
    for case, source, options in DERIVED:
        write_frame(out / f"{case}.json", case, source, options, frames[case], url)
        dtypes[case] = frame_dtypes(frames[case])
        print(f"{case}: {len(frames[case])} rows", file=sys.stderr)
    write_dtypes(out / f"dtypes-{env}.json", env, dtypes)
    print(f"wrote {len(CASES) + len(DERIVED)} frames and dtypes-{env}.json to {out} "
          f"from {_origin()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
