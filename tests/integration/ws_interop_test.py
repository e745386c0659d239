#!/usr/bin/python3
"""Interop test: an independent WebSocket client (Python `websockets`, Debian
python3-websockets) against the real shardd binary.

Usage: ws_interop_test.py --shardd PATH/TO/shardd   ($SHARDD_BIN, when set, wins)

Starts shardd itself (ports 0, its own temp dir), runs the checks, prints one
line per check and exits non-zero on the first failure.
"""

import argparse
import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import websockets

FAILURES = []


def check(cond, what):
    if cond:
        print(f"ok   - {what}", flush=True)
    else:
        print(f"FAIL - {what}", flush=True)
        FAILURES.append(what)
        raise AssertionError(what)


# ---- minimal MessagePack (the subset shardd's envelope needs) ----

def mp_encode(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, dict):
        assert len(v) < 16
        out = bytes([0x80 | len(v)])
        for k, x in v.items():
            out += mp_encode(k) + mp_encode(x)
        return out
    raise TypeError(type(v))


def mp_decode(b, i=0):
    t = b[i]
    if t <= 0x7F:
        return t, i + 1
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        if t <= 0x8F:
            n, i = t & 0x0F, i + 1
        elif t == 0xDE:
            n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        d = {}
        for _ in range(n):
            k, i = mp_decode(b, i)
            d[k], i = mp_decode(b, i)
        return d, i
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t in (0xD9, 0xDA, 0xDB):
        w = {0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
        n = int.from_bytes(b[i + 1:i + 1 + w], "big")
        s = i + 1 + w
        return b[s:s + n].decode(), s + n
    if t == 0xC0:
        return None, i + 1
    if t == 0xC2:
        return False, i + 1
    if t == 0xC3:
        return True, i + 1
    if t in (0xCC, 0xCD, 0xCE, 0xCF):
        w = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[t]
        return int.from_bytes(b[i + 1:i + 1 + w], "big"), i + 1 + w
    if t in (0xD0, 0xD1, 0xD2, 0xD3):
        w = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[t]
        return int.from_bytes(b[i + 1:i + 1 + w], "big", signed=True), i + 1 + w
    if t >= 0xE0:
        return t - 256, i + 1
    raise ValueError(f"unsupported msgpack type 0x{t:02x}")


# ---- shardd process ----

class Shardd:
    def __init__(self, binary, tmp, overrides, config=""):
        self.tmp = tmp
        self.ports_file = os.path.join(tmp, "ports.json")
        self.log_path = os.path.join(tmp, "shardd.stderr")
        cfg = os.path.join(tmp, "shardd.toml")
        with open(cfg, "w") as f:
            f.write('[server]\nname = "shardd-py"\n' + config)
        args = [binary, "-c", cfg]
        sets = ["ws.port=0", "tcp.port=0", "admin.port=0", "ws.bind=127.0.0.1",
                "tcp.bind=127.0.0.1", "admin.bind=127.0.0.1",
                f"server.data_dir={tmp}/data", f"server.ports_file={self.ports_file}"]
        for s in sets + overrides:
            args += ["--set", s]
        self.log = open(self.log_path, "wb")
        # Sanitizer reports of a sanitizer build go to files checked in stop().
        self.san_prefix = os.path.join(tmp, "sanitizer")
        env = dict(os.environ)
        for var in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
            env[var] = (env[var] + ":" if env.get(var) else "") + "log_path=" + self.san_prefix
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.monotonic() + 10
        while True:
            if os.path.exists(self.ports_file):
                with open(self.ports_file) as f:
                    self.ports = json.load(f)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"shardd exited with {self.proc.returncode}:\n{self.read_log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"shardd wrote no ports file in 10 s:\n{self.read_log()}")
            time.sleep(0.01)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def url(self):
        return f"ws://127.0.0.1:{self.ports['ws']}/ws"

    def stop(self):
        """SIGTERM (SIGKILL after 20 s); records a failure if the server wrote
        any sanitizer report (files, or stderr for GCC's UBSan)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        reports = ""
        d = os.path.dirname(self.san_prefix)
        for name in sorted(os.listdir(d)):
            if name.startswith(os.path.basename(self.san_prefix) + "."):
                with open(os.path.join(d, name), errors="replace") as f:
                    reports += f.read()
        log = self.read_log()
        for marker in (": runtime error: ", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "WARNING: ThreadSanitizer"):
            if marker in log:
                reports += log[log.index(marker):][:8000]
                break
        if reports:
            print("FAIL - sanitizer report from shardd:\n" + reports, flush=True)
            FAILURES.append("sanitizer report")


async def recv_json(ws, timeout=5):
    msg = await asyncio.wait_for(ws.recv(), timeout)
    if isinstance(msg, bytes):
        return mp_decode(msg)[0]
    return json.loads(msg)


async def recv_until(ws, pred, timeout=5):
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError()
        m = await recv_json(ws, left)
        if pred(m):
            return m


async def main_checks(binary, tmp):
    srv = Shardd(binary, tmp, ["limits.max_frame_bytes=4096", "ws.permessage_deflate=true",
                               "server.reconnect_after_ms=2500"],
                 '[ws]\nallowed_origins = ["https://good.example"]\n')
    try:
        async with websockets.connect(srv.url(), open_timeout=5) as ws:
            hello = await recv_json(ws)
            check(hello.get("op") == "sys.hello" and hello.get("seq") == 0,
                  f"first message is sys.hello seq 0 ({hello})")
            check(hello["d"].get("transport") == "ws" and hello["d"].get("server") == "shardd-py",
                  "hello names the transport and the server")
            check(hello["d"].get("max_frame") == 4096, "hello carries max_frame")
            exts = [e.name for e in ws.extensions]
            check("permessage-deflate" in exts,
                  f"permessage-deflate negotiated with websockets ({exts})")

            big = "x" * 3000
            await ws.send(json.dumps({"op": "sys.ping", "rid": 1, "d": {"t": big}}))
            r = await recv_json(ws)
            check(r.get("rid") == 1 and r.get("ok") is True and r["d"].get("t") == big,
                  "sys.ping round trip (compressed)")
            check(isinstance(r["d"].get("server_time_ms"), int), "ping has server_time_ms")

            await ws.send(mp_encode({"op": "sys.ping", "rid": 2, "d": {"t": "mp"}}))
            raw = await asyncio.wait_for(ws.recv(), 5)
            check(isinstance(raw, bytes), "MessagePack request answered with a binary frame")
            r = mp_decode(raw)[0]
            check(r.get("rid") == 2 and r.get("ok") is True and r["d"].get("t") == "mp",
                  f"MessagePack ping round trip ({r})")

            await ws.send(json.dumps({"op": "no.such_op", "rid": 3}))
            r = await recv_json(ws)
            check(r.get("rid") == 3 and r.get("ok") is False and r["err"]["code"] == "UNKNOWN_OP",
                  "unknown op answers UNKNOWN_OP")

            await ws.send("{not json")
            r = await recv_json(ws)
            check(r.get("rid") is None and r["err"]["code"] == "BAD_REQUEST",
                  "malformed JSON answers BAD_REQUEST with rid null")

            await ws.send(json.dumps({"op": "sys.ping", "rid": 4}))
            r = await recv_json(ws)
            check(r.get("rid") == 4 and r.get("ok") is True, "connection usable after errors")

            await ws.send(json.dumps({"op": "sys.ping", "rid": 5, "d": {"t": "y" * 5000}}))
            try:
                await asyncio.wait_for(ws.recv(), 5)
                check(False, "oversize message must close the connection")
            except websockets.exceptions.ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
                check(code == 1009, f"oversize message closed with 1009 (got {code})")

        try:
            async with websockets.connect(srv.url(), origin="https://evil.example",
                                          open_timeout=5):
                check(False, "a foreign Origin must be refused")
        except websockets.exceptions.InvalidStatusCode as e:
            check(e.status_code == 403, f"foreign Origin refused with 403 (got {e.status_code})")

        async with websockets.connect(srv.url(), origin="https://good.example",
                                      open_timeout=5, compression=None) as ws:
            await recv_json(ws)
            check(ws.extensions == [], "no extension when the client offers none")
            srv.proc.send_signal(signal.SIGTERM)
            shutdown = await recv_until(ws, lambda m: m.get("op") == "sys.shutdown")
            check(shutdown["d"].get("reconnect_after_ms") == 2500,
                  f"sys.shutdown on SIGTERM ({shutdown})")
            close = await recv_until(ws, lambda m: m.get("op") == "sys.close")
            check(close["d"].get("code") == "SHUTTING_DOWN", "sys.close SHUTTING_DOWN")
            try:
                await asyncio.wait_for(ws.recv(), 5)
                check(False, "connection must close after sys.close")
            except websockets.exceptions.ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
                check(code == 1001, f"closed with 1001 going away (got {code})")
        rc = srv.proc.wait(timeout=10)
        check(rc == 0, f"shardd exited 0 after the drain (got {rc})")
    except BaseException:
        sys.stdout.write("---- shardd log ----\n" + srv.read_log() + "---- end ----\n")
        raise
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shardd", help="shardd binary; $SHARDD_BIN, when set, wins")
    args = ap.parse_args()
    args.shardd = os.environ.get("SHARDD_BIN") or args.shardd
    if not args.shardd:
        ap.error("no shardd binary: pass --shardd or set SHARDD_BIN")
    print(f"websockets {websockets.version.version}, shardd {args.shardd}", flush=True)
    with tempfile.TemporaryDirectory(prefix="shardd-py-") as tmp:
        try:
            asyncio.run(asyncio.wait_for(main_checks(args.shardd, tmp), 50))
        except AssertionError:
            pass
        except Exception as e:  # anything unexpected is a failure too
            print(f"FAIL - unexpected {type(e).__name__}: {e}", flush=True)
            FAILURES.append(str(e))
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)", flush=True)
        return 1
    print("all interop checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
