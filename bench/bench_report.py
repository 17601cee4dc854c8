"""The HTML report: file size, time to first paint, one filter interaction (Chromium).

For each size: load the embedded sample catalogue (in a child-free, in-process server),
write ``imgframe.report``, open it from file:// in headless Chromium (every non-file
request aborted) and read the page's performance entries:

* ``fcp_ms``: first contentful paint (the header and "Loading the inventory…"),
* ``ready_ms``: the ``imgframe-ready`` mark, set in the frame after the data is inflated,
  parsed and decoded and the count, table and chart are drawn,
* ``filter_ms``: median of 5 clicks on a status toggle (select, sort, count, table page,
  chart: the whole synchronous update), and ``name_ms`` the same for a glob in the name box.

Also the data's size as plain JSON and as gzip+base64, to show whether compression pays.

    python bench/bench_report.py                 # 3,000 and 100,000 images
    python bench/bench_report.py 3000 100000 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, print_table, write_csv  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def load(n: int):
    import imgframe
    from imgframe.server import ImageServer, sample_inventory

    with ImageServer(sample_inventory(n, seed=0), max_limit=1000) as srv:
        return imgframe.Client(srv.url, srv.project_id, token="t").load(progress=False)


def measure(n: int, browser, workdir: Path) -> dict:
    import imgframe
    from imgframe.report import embed, encode_frame

    started = time.perf_counter()
    df = load(n)
    load_s = time.perf_counter() - started
    data = encode_frame(df)
    plain = len(embed(data, compress=False)[1].encode("utf-8"))
    packed = len(embed(data, compress=True)[1])
    started = time.perf_counter()
    path = imgframe.report(df, workdir / f"report-{n}.html")
    write_s = time.perf_counter() - started
    size = path.stat().st_size

    leaving = []
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
               else (leaving.append(r.request.url), r.abort()))
    page.goto(path.as_uri(), timeout=600_000)
    page.wait_for_selector("html[data-imgframe-ready]", timeout=600_000)
    fcp = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {})"
                        ".startTime")
    ready = page.evaluate("performance.getEntriesByName('imgframe-ready')[0].startTime")
    clicks = page.evaluate("""() => {
        const b = document.querySelector('.imgframe-status-saving'), out = [];
        for (let k = 0; k < 10; k++) {
            const t0 = performance.now(); b.click(); out.push(performance.now() - t0);
        }
        return out; }""")
    names = []
    for pattern in ["ubuntu*", "*-snapshot-*", "debian-1?-*", "", "ubuntu-2[24]*"]:
        page.locator(".imgframe-name input").fill(pattern)
        page.wait_for_timeout(50)
        names.append(page.evaluate("imgframe.lastUpdateMs()"))
    page.close()
    assert not leaving, leaving
    return {
        "images": len(df), "load_s": round(load_s, 2), "write_s": round(write_s, 2),
        "json_MB": round(plain / 1e6, 2), "gzip_b64_MB": round(packed / 1e6, 2),
        "file_MB": round(size / 1e6, 2), "fcp_ms": round(fcp or float("nan")),
        "ready_ms": round(ready), "filter_ms": round(statistics.median(clicks), 1),
        "name_ms": round(statistics.median(names), 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[3000, 100_000])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for n in args.sizes:
                rows.append({"catalogue": n, **measure(n, browser, Path(tmp))})
                print(rows[-1], flush=True)
        finally:
            browser.close()
    print_table(rows)
    print("wrote", write_csv("report", rows))


if __name__ == "__main__":
    main()
