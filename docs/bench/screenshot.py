#!/usr/bin/env python3
"""Logs in to a running dashboard in headless Chromium and saves a screenshot of a page.

    docs/bench/screenshot.py BASE_URL PASSWORD OUT.png [PATH] [WAIT_SECONDS]

Talks WebDriver to Debian's chromedriver (started here on a free loopback port) with the
standard library only. Used for the README's screenshot (docs/screenshots/overview.png).
"""
import base64, json, socket, subprocess, sys, time, urllib.request

base, password, out = sys.argv[1:4]
path = sys.argv[4] if len(sys.argv) > 4 else "/"
wait = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wd = f"http://127.0.0.1:{port}"


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(wd + url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["value"]


try:
    for _ in range(100):
        try:
            call("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    session = call("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 # The window is larger than the page by the (invisible) browser frame:
                 # this size leaves a 1920×1080 page, a wall display's.
                 "--window-size=1920,1223", "--hide-scrollbars"]}}}})["sessionId"]
    s = f"/session/{session}"
    call("POST", s + "/url", {"url": base + "/login?next=" + path})
    field = call("POST", s + "/element", {"using": "css selector", "value": "#password"})[ELEMENT]
    call("POST", s + f"/element/{field}/value", {"text": password})
    button = call("POST", s + "/element", {"using": "css selector", "value": "#login"})[ELEMENT]
    call("POST", s + f"/element/{button}/click", {})
    time.sleep(wait)
    png = base64.b64decode(call("GET", s + "/screenshot"))
    open(out, "wb").write(png)
    call("DELETE", s)
    print(f"saved {out}")
finally:
    driver.kill()
