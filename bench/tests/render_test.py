#!/usr/bin/python3
"""CI test: the --report page opened in headless Chromium (DevTools protocol): SVG charts drawn, no console errors, a screenshot saved."""
import base64, json, os, shutil, subprocess, sys, tempfile, time

import websocket  # python3-websocket

report, shot = os.path.abspath(sys.argv[1]), sys.argv[2]
profile = tempfile.mkdtemp(prefix="pgfunnel-bench-chromium.")
proc = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=900,1400",
                         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
problems = []
try:
    # Chromium writes the port it chose into the profile once it listens.
    port_file, deadline = os.path.join(profile, "DevToolsActivePort"), time.time() + 30
    while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
        if time.time() > deadline or proc.poll() is not None:
            sys.exit("FAIL chromium did not open its DevTools port")
        time.sleep(0.1)
    port = open(port_file).read().split("\n")[0]
    import urllib.request
    pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
    ws = websocket.create_connection([p for p in pages if p["type"] == "page"][0]["webSocketDebuggerUrl"], timeout=30)
    ids, events = iter(range(1, 10**6)), []

    def call(method, **params):
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            m = json.loads(ws.recv())
            if m.get("id") == i:
                return m.get("result", {})
            events.append(m)

    call("Runtime.enable"); call("Log.enable"); call("Page.enable")
    call("Page.navigate", url="file://" + report)
    while not any(e.get("method") == "Page.loadEventFired" for e in events):
        events.append(json.loads(ws.recv()))
    count = lambda sel: call("Runtime.evaluate", expression=f"document.querySelectorAll('{sel}').length")["result"]["value"]
    svgs, lines = count("svg.chart"), count("svg.chart polyline.series")
    print(f"{'ok  ' if svgs == 4 else 'FAIL'} {svgs} SVG charts (want 4)"); svgs == 4 or problems.append("charts")
    print(f"{'ok  ' if lines >= 4 else 'FAIL'} {lines} chart lines drawn"); lines >= 4 or problems.append("lines")
    errors = [e for e in events if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
              or e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    print(f"{'ok  ' if not errors else 'FAIL'} console errors: {len(errors)} {errors[:3]}"); errors and problems.append("console")
    png = base64.b64decode(call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
    open(shot, "wb").write(png)
    print(f"ok   screenshot {shot} ({len(png)} bytes)")
finally:
    proc.terminate(); proc.wait(10); shutil.rmtree(profile, ignore_errors=True)
print("FAIL render_test" if problems else "PASS render_test")
sys.exit(1 if problems else 0)
