"""Time from pressing Start in the studio to the first preview and to the finished picture, in a
real browser (Playwright + Debian's chromium), cold (the server's first run) and warm; and
whether a second tab stays responsive while a run goes. Saves a screenshot of the page.

    python bench/studio_latency.py --weights /work/shared/vgg19/vgg19_features.safetensors \
        --screenshot docs/guide/studio/studio.png

Each measurement is wall time seen by the browser: the click, the queue, the run's setup
(data, targets), the first look at the picture (step 0, the start image) and its trip to the page.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests")]
from test_studio import BROWSER_ARGS, CHROMIUM, load_example, preview_src, set_number, wait_message  # noqa: E402


def start_server(weights: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "studio.py", "--port", str(port), "--weights", weights], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("nst studio: http"):
            threading.Thread(target=lambda: sys.stderr.writelines(proc.stdout), daemon=True).start()
            return proc
    raise SystemExit("the studio did not start")


def timed_run(tab, size: int, preset: str, until: str) -> dict:
    """Press Start; seconds to the first preview, to the first changed one, and to ``until``."""
    set_number(tab, "size", size)
    tab.click(f"#preset label:has-text('{preset}')")
    before = preview_src(tab)
    t0 = time.perf_counter()
    tab.click("#start")
    times, seen = {}, [before]
    while True:
        src = preview_src(tab)
        if src and src not in seen:
            seen.append(src)
            times.setdefault("first_preview_s", time.perf_counter() - t0)
            if len(seen) == 3:
                times["second_preview_s"] = time.perf_counter() - t0
        if until == "first" and len(seen) >= 3:
            tab.click("#stop")
            wait_message(tab, "stopped", 300)
            break
        if until == "done" and "done" in tab.inner_text("#message"):
            times["finished_s"] = time.perf_counter() - t0
            break
        time.sleep(0.05)  # a poll is two calls into the browser: keep its CPU share small
    times["progress"] = tab.inner_text("#progress")
    return {"size": size, "preset": preset, **{k: round(v, 2) if isinstance(v, float) else v
                                                for k, v in times.items()}}


def responsiveness(browser, url: str, tab) -> dict:
    """While a run goes in ``tab``: a second tab opens, loads an example, and sees no pictures of
    the first (its own session)."""
    set_number(tab, "size", 400)
    tab.click("#preset label:has-text('default')")
    tab.click("#start")
    tab.wait_for_function("document.querySelector('#progress').innerText.includes('step')", timeout=300_000)
    other = browser.new_page(viewport={"width": 1400, "height": 1100})
    t0 = time.perf_counter()
    other.goto(url)
    other.wait_for_selector("#start")
    opened = time.perf_counter() - t0
    t1 = time.perf_counter()
    load_example(other, 1)
    example = time.perf_counter() - t1
    pictures = other.locator("#results img").count()
    other.close()
    tab.click("#stop")
    wait_message(tab, "stopped", 300)
    return {"second_tab_open_s": round(opened, 2), "second_tab_example_s": round(example, 2),
            "second_tab_pictures": pictures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here too")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    server = start_server(args.weights, port)
    results = {"server_start_s": round(time.perf_counter() - t0, 2)}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            tab = browser.new_page(viewport={"width": 1400, "height": 1100})
            tab.goto(url)
            tab.wait_for_selector("#start")
            load_example(tab)
            results["cold_400"] = timed_run(tab, 400, "default", "done")
            results["warm_256_first_preview"] = timed_run(tab, 256, "default", "first")
            results["warm_400"] = timed_run(tab, 400, "default", "done")
            if args.screenshot:
                tab.screenshot(path=str(args.screenshot), full_page=True)
            results["while_running"] = responsiveness(browser, url, tab)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
