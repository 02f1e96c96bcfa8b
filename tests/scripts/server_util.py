"""Helpers for the server end-to-end tests: start `moelab serve` on a free
loopback port, talk JSON and SSE to it, read /metrics."""
import http.client
import json
import os
import re
import subprocess
import time

MOELAB = os.environ.get("MOELAB", "moelab")
WORK = os.environ.get("MOELAB_WORK_DIR", "/tmp/moelab-test-work")


def make_model(preset):
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"server-{preset}.gguf")
    if not os.path.exists(path):
        subprocess.run([MOELAB, "make-model", "--preset", preset, "-o", path], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
    return path


class Server:
    def __init__(self, model, *args):
        self.proc = subprocess.Popen([MOELAB, "serve", model, "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        self.port = None
        self.log = []
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("server did not start: " + "".join(self.log))

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None):
        c = self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stream(self, path, body, headers=None):
        """Yields the parsed JSON of each SSE data event until [DONE]."""
        c = self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        buf = b""
        while True:
            chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
            if not chunk:
                raise AssertionError("stream ended without [DONE]")
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                assert event.startswith(b"data: "), event
                payload = event[6:]
                if payload == b"[DONE]":
                    c.close()
                    return
                yield json.loads(payload)

    def metrics(self):
        status, text = self.request("GET", "/metrics")
        assert status == 200, status
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def wait_idle(self, timeout=30):
        """Waits until nothing runs or waits and no KV block is owned."""
        deadline = time.time() + timeout
        m = {}
        while time.time() < deadline:
            m = self.metrics()
            if (m["moelab_running_sequences"] == 0 and m["moelab_waiting_sequences"] == 0
                    and m["moelab_kv_blocks_used"] == 0):
                return m
            time.sleep(0.05)
        raise AssertionError(f"server not idle: running={m.get('moelab_running_sequences')} "
                             f"waiting={m.get('moelab_waiting_sequences')} used={m.get('moelab_kv_blocks_used')}")

    def stop(self, sig=15, timeout=60):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
