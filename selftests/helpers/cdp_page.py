#!/usr/bin/env python3
"""A headless Chromium showing one page, driven line by line over stdin
through the DevTools protocol (--remote-debugging-pipe: no port, no
websocket).  Each command prints one line on stdout.

  cdp_page.py URL PROFILE_DIR

Commands:
  wait CALL_ID     until the session view shows that session (20 s): ok | timeout
  read             what the session view shows, as JSON: {"state", "relays": [...],
                   "sessions": [{"call_id", "parties", "streams": [{...}]}]}; a stream's
                   cells are found by their class, its quality figures per side
                   (caller_lost, caller_jitter, caller_rtt, caller_mos, ...)
  width W H        emulate a screen of W x H CSS pixels (a phone), or 0 0 for none;
                   prints the page's scroll width: it fits when that is <= W
  shot FILE        a PNG screenshot of the page: ok
  quit             bye, and the browser ends
"""
import base64
import json
import os
import subprocess
import sys
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,900"]

# Reads the session view's DOM: what a user sees, cell by cell.
READ = r"""
(() => {
  const text = e => e ? e.textContent.trim() : null;
  return JSON.stringify({
    state: text(document.getElementById("state")),
    relays: [...document.querySelectorAll("#relays tbody tr")].map(tr => [...tr.cells].map(text)),
    sessions: [...document.querySelectorAll("article.session")].map(a => ({
      call_id: text(a.querySelector(".call-id")),
      parties: text(a.querySelector(".parties")),
      streams: [...a.querySelectorAll("tr.stream")].map(tr => {
        const at = selector => text(tr.querySelector(selector));
        const stream = { media: at(".media"), codec: at(".codec"), status: at(".status"), path: at(".path"),
          caller: at(".caller-remote"), callee: at(".callee-remote"),
          caller_packets: at(".caller-packets"), callee_packets: at(".callee-packets") };
        for (const side of ["caller", "callee"]) {
          for (const figure of ["lost", "jitter", "rtt", "mos"])
            stream[side + "_" + figure] = at("." + side + "-quality ." + figure);
          const q = tr.querySelector("." + side + "-quality");
          stream[side + "_quality_title"] = q ? q.title : null;
        }
        return stream;
      }),
    })),
  });
})()
"""


class Browser:
    def __init__(self, url, profile):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def pipes():  # the browser reads commands on fd 3, writes answers on fd 4
            commands, answers = os.dup(to_child_r), os.dup(from_child_w)  # above 4: no clash
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.proc = subprocess.Popen(["chromium", *FLAGS, f"--user-data-dir={profile}", url], preexec_fn=pipes,
                                     pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=sys.stderr)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 0
        self.session = None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser went away")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def read(self):
        return json.loads(self.evaluate(READ) or "{}")


def main(url, profile):
    browser = Browser(url, profile)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "wait":
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any(s["call_id"] == words[1] and s["streams"] for s in browser.read().get("sessions", [])):
                    print("ok", flush=True)
                    break
                time.sleep(0.2)
            else:
                print("timeout", flush=True)
        elif words[0] == "read":
            print(json.dumps(browser.read()), flush=True)
        elif words[0] == "width":
            w, h = int(words[1]), int(words[2])
            if w:
                browser.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=2, mobile=True)
            else:
                browser.call("Emulation.clearDeviceMetricsOverride")
            time.sleep(0.5)  # the layout settles
            print(browser.evaluate("document.documentElement.scrollWidth"), flush=True)
        elif words[0] == "shot":
            png = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
            with open(words[1], "wb") as f:
                f.write(base64.b64decode(png))
            print("ok", flush=True)
        elif words[0] == "quit":
            break
    browser.proc.terminate()
    browser.proc.wait()
    print("bye", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
