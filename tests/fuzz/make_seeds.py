#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).
Run from the repository root after changing the protocol or the config keys;
regression inputs (regress-*) are kept by hand and never overwritten."""
import json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(__file__), "corpus")

def mp(v):
    """Minimal MessagePack encoder (the subset the envelope uses)."""
    if v is None: return b"\xc0"
    if v is True: return b"\xc3"
    if v is False: return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128: return bytes([v])
        if -32 <= v < 0: return struct.pack("b", v)
        if 0 <= v < 2**32: return b"\xce" + struct.pack(">I", v)
        if 0 <= v: return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float): return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, bytes): return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)

ENVELOPES = [
    {"op": "sys.ping", "rid": 1, "d": {"t": "x"}},
    {"op": "sys.hello", "rid": 2},
    {"op": "auth.login", "rid": 3, "d": {"username": "alice", "password": "correct horse"}},
    {"op": "auth.register", "rid": 4, "d": {"username": "bob_2", "password": "pässwörd✓"}},
    {"op": "zone.select", "rid": 9007199254740991, "d": {"zone": "eu-1"}},
    {"op": "sys.resume", "rid": 5, "d": {"token": "abc", "seq": 12}},
    {"op": "chat.send", "rid": 6, "d": {"channel": "world", "text": "hi", "n": -1.5e300, "a": [1, [2, [3]]]}},
    {"op": "x", "rid": 0, "d": None},
]

def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def frame(body, flags, seq):
    return struct.pack(">IBI", len(body), flags, seq) + body

def main():
    for i, e in enumerate(ENVELOPES):
        write("fuzz_envelope_json", f"seed-{i}", json.dumps(e, ensure_ascii=False).encode())
        write("fuzz_envelope_msgpack", f"seed-{i}", mp(e))
    write("fuzz_envelope_json", "seed-deep", b'{"op":"a","rid":1,"d":{"x":' + b"[" * 40 + b"]" * 40 + b"}}")
    write("fuzz_envelope_json", "seed-bad-utf8", b'{"op":"a","rid":1,"d":{"x":"\xff\xfe"}}')
    write("fuzz_envelope_msgpack", "seed-bin", mp({"op": "a", "rid": 1, "d": {"b": b"\x00\x01"}}))
    write("fuzz_envelope_msgpack", "seed-nan", mp({"op": "a", "rid": 1, "d": {"f": float("nan")}}))
    # TCP: several frames in a row, JSON, MessagePack, zlib, a bomb, bad flags.
    js = [json.dumps(e).encode() for e in ENVELOPES]
    write("fuzz_tcp_frame", "seed-json", b"".join(frame(b, 0, i + 1) for i, b in enumerate(js[:3])))
    write("fuzz_tcp_frame", "seed-msgpack", b"".join(frame(mp(e), 1, i + 1) for i, e in enumerate(ENVELOPES[:3])))
    write("fuzz_tcp_frame", "seed-zlib", frame(zlib.compress(js[6]), 2, 1) + frame(zlib.compress(mp(ENVELOPES[2])), 3, 2))
    write("fuzz_tcp_frame", "seed-bomb", frame(zlib.compress(b"{" + b" " * 1_000_000 + b"}", 9), 2, 1))
    write("fuzz_tcp_frame", "seed-badflags", frame(js[0], 0x80, 1))
    write("fuzz_tcp_frame", "seed-badseq", frame(js[0], 0, 1) + frame(js[1], 0, 7))
    write("fuzz_tcp_frame", "seed-partial", frame(js[0], 0, 1)[:-3])
    # Config: the shipped file, override-only inputs, zones and auth tables.
    cfg_dir = os.path.join(os.path.dirname(__file__), "..", "..", "config")
    for name in sorted(os.listdir(cfg_dir)):
        if name.endswith(".toml"):
            with open(os.path.join(cfg_dir, name), "rb") as f:
                write("fuzz_config", "seed-" + name, f.read())
    write("fuzz_config", "seed-sets", b"\0ws.port=0\nlimits.max_message_bytes=1024\nlog.levels.net=debug\nauth.scrypt_n=1024")
    write("fuzz_config", "seed-zones", b'[server]\nname = "s"\n[[zones]]\nid = "eu-1"\nname = "Europe"\ncapacity = 100\n'
          b'[[zones]]\nid = "us-1"\nname = "US"\ncapacity = 5\nmaintenance = true\n')
    write("fuzz_config", "seed-types", b'[limits]\nmax_message_bytes = "big"\n[ws]\nport = -1\n[log]\nlevels = { app = "trace", zz = 1 }\n')
    write("fuzz_config", "seed-unicode", '[server]\nname = "шард \\u00e9\\t\\"q\\""\n'.encode())
    # Admin: byte 0 picks the schema, then query '\n' body.
    write("fuzz_admin_body", "seed-0", b"\x00username=alice&limit=10\n")
    write("fuzz_admin_body", "seed-1", b'\x01\n{"session": 12, "reason": "spam", "notify": true}')
    write("fuzz_admin_body", "seed-2", b'\x02level=warn\n{"text": "server restarts in 5 min", "ttl_s": 2.5}')
    write("fuzz_admin_body", "seed-3", b'\x03\n{"accounts": [1,2,3], "meta": {"a": null}, "extra": [[{}]]}')
    write("fuzz_admin_body", "seed-esc", b"\x00username=%41l%2bice+x&limit=%31%30&offset=1e3\n")
    write("fuzz_admin_body", "seed-bad", b"\x01session=9007199254740992\n[1,2]")
    # HTTP transport: byte 0 = max_batch - 1, then a send body (also read as a target).
    write("fuzz_rt_body", "seed-one", b'\x03{"op":"sys.ping","rid":1,"d":{"t":"a,b]"}}')
    write("fuzz_rt_body", "seed-batch", b'\x03 [ {"op":"auth.login","rid":2,"d":{"username":"x\\"]"}} ,\n{"op":"sys.ping","rid":3}, 7, [1,[2]], "s"]')
    write("fuzz_rt_body", "seed-empty", b"\x00[]")
    write("fuzz_rt_body", "seed-target", b"\x00/rt/AbC-_9/events?poll=1&last=12&s=xyz")
    write("fuzz_rt_body", "seed-lines", b"\x01line one\r\nline two\rthree\n")
    # Chat text: byte 0 = max_chars - 1, then a word list, 0xFF, a text.
    write("fuzz_chat_text", "seed-plain", b"\x1fdarn\nheck*\n*crud*\xffoh D4RN, the h.e.c.k-ing crud!")
    write("fuzz_chat_text", "seed-fake", b"\x3f# list\n\xff  [System]\t you won \xe2\x80\xae gold  ")
    write("fuzz_chat_text", "seed-wide", b"\x0a" + "\uff24\uff41\uff52\uff4e\n\u00e1b".encode() + b"\xff" +
          "\u3010\u7cfb\u7edf\u3011 \uff24\uff41\uff52\uff4e \u00c1B".encode())
    write("fuzz_chat_text", "seed-empty", b"\x00\xff\x00\x01\x7f")

if __name__ == "__main__":
    main()
