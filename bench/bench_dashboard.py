"""The dashboard's memory with 1 and 20 viewers (plain HTTP clients: log in, fetch the page,
the data and the status, and keep their connections open). Prints the server's RSS.

    python bench/bench_dashboard.py [images]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import requests


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return kib / 1024


def viewer(url: str, password: str, sessions: list) -> None:
    s = requests.Session()
    s.post(url + "login", data={"password": password}, timeout=30)
    assert s.get(url, timeout=30).status_code == 200
    assert s.get(url + "api/data", timeout=60).json()["rows"] > 0
    s.get(url + "api/status", timeout=30)
    sessions.append(s)


def main(images: int = 3000) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "IMGFRAME_DASHBOARD_PASSWORD": "bench"}
    proc = subprocess.Popen([sys.executable, "-m", "imgframe.cli", "dashboard", "--demo",
                             "--images", str(images), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            m = re.search(r"at (http://\S+/)", line)
            url = m.group(1) if m else None
        time.sleep(1)
        print(f"{images} sample images; idle after load: {rss_mib(proc.pid):.1f} MiB")
        sessions: list = []
        viewer(url, "bench", sessions)
        time.sleep(0.5)
        print(f"1 viewer:   {rss_mib(proc.pid):.1f} MiB")
        threads = [threading.Thread(target=viewer, args=(url, "bench", sessions))
                   for _ in range(19)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)
        print(f"20 viewers: {rss_mib(proc.pid):.1f} MiB ({len(sessions)} sessions open)")
    finally:
        proc.send_signal(2)
        proc.wait(20)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
