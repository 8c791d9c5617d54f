"""Hostile HTTP clients against the API: garbage request lines, oversized
headers and URLs, path traversal, unknown methods, bad query parameters,
smuggling attempts and many connections at once. Every error the server
answers must be a 4xx/5xx status with a JSON body {"error": {...}}, no file
outside the embedded dashboard may ever be served, and afterwards the server
still answers /api/v1/health."""

import json
import socket
import threading
import time

import pytest

import airlock_e2e as e2e

NS = "e2e/site/area/line/plc"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    """One gateway for the whole module (its device has no peer: the tags
    stay Bad, which is all the HTTP side needs)."""
    group = e2e.ProcessGroup()
    tmp = tmp_path_factory.mktemp("hostile")
    dev = e2e.modbus_device(
        "plc", e2e.free_port(),
        [{"name": "temperature", "area": "holding", "address": 0, "type": "float32"}],
        interval_ms=500,
    )
    cfg = e2e.write_file(tmp, "hostile.yaml", e2e.gateway_config([dev]))
    a = e2e.Airlock(group, ["-c", cfg])
    global AUTH
    AUTH = f"Authorization: Bearer {a.token}\r\n".encode()
    try:
        a.wait_ready(30)
        yield a
        assert a.proc.alive(), f"airlock died:\n{a.proc.stderr_tail()}"
        rc, _ = a.stop()
        assert rc == 0, f"exit status {rc}:\n{a.proc.stderr_tail()}"
        a.assert_clean_stderr()
    finally:
        group.close()


def assert_json_error(status, headers, body, expected_status, what):
    assert status == expected_status, f"{what}: expected {expected_status}, got {status}: {body[:300]!r}"
    ctype = headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"{what}: Content-Type {ctype!r}, body {body[:200]!r}"
    doc = json.loads(body.decode("utf-8"))
    assert isinstance(doc.get("error"), dict), f"{what}: body {doc}"
    assert doc["error"].get("message"), f"{what}: error without a message: {doc}"


def assert_still_serving(gw):
    assert gw.proc.alive(), f"airlock died:\n{gw.proc.stderr_tail()}"
    r = gw.get("/api/v1/health")
    assert r.status == 200 and r.json()["devices"], r


def request(gw, raw, timeout_s=5.0):
    status, headers, body, _ = e2e.raw_http(gw.http_port, raw, timeout_s=timeout_s)
    return status, headers, body


# The module's gateway's API token (every route but health needs one).
AUTH = b""


def get(path, extra=b""):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH + extra
            + b"\r\n")


# -------------------------------------------------------------- requests


# Requests malformed at the HTTP level, refused by libmicrohttpd before they
# reach airlock, with the statuses docs/api.md documents (None: the
# connection is closed without a reply). Their bodies are libmicrohttpd's
# short HTML pages, as documented; every error airlock itself produces is JSON.
BIG_HEADERS = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(64))
PROTOCOL_ERRORS = [
    (b"\x00\x01\x02\x03\r\n\r\n", {None, 400}),
    (b"GARBAGE\r\n\r\n", {None, 400}),
    (b"GET\r\n\r\n", {None, 400}),
    (b"\r\n\r\n\r\n\r\n", {None, 400}),
    (bytes(range(256)) * 4, {None, 400}),
    (b"\xff\xfe\xfd / HTTP/1.1\r\nHost: x\r\n\r\n", {None, 400, 405}),
    (b"GET /\r\n\r\n", {400}),
    (b"GET  HTTP/1.1\r\n\r\n", {400}),
    (b"GET / HTTP/1.1 extra\r\n\r\n", {400}),
    (b"GET / FTP/1.0\r\n\r\n", {400}),
    (b"GET / HTTP/1.1\r\n\r\n", {400}),  # HTTP/1.1 without Host
    (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nno colon header\r\n\r\n", {400}),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {505}),
    (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + BIG_HEADERS + b"\r\n", {431}),
    (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n", {431}),
    (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
]

# Odd but harmless header lines: any answer will do, as long as the server lives.
TOLERATED = [
    b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
    b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX:\xff\xfe\r\n\r\n",
    b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n X-Folded: continuation\r\n\r\n",
]


@pytest.mark.parametrize("i", range(len(PROTOCOL_ERRORS)),
                         ids=[repr(r[:24]) for r, _ in PROTOCOL_ERRORS])
def test_malformed_http_is_refused(gw, i):
    raw, expected = PROTOCOL_ERRORS[i]
    status, headers, body = request(gw, raw)
    assert status in expected, f"{raw[:40]!r}: expected {sorted(expected, key=str)}, got {status}"
    assert_still_serving(gw)


@pytest.mark.parametrize("i", range(len(TOLERATED)))
def test_odd_headers_do_no_harm(gw, i):
    status, headers, body = request(gw, TOLERATED[i])
    assert status is None or 200 <= status < 600, status
    assert_still_serving(gw)


@pytest.mark.xfail(
    strict=False,
    reason="lead to decide: libmicrohttpd 0.9.75 writes its status line and headers twice when"
    " it refuses an HTTP/1.1 request without Host (a library bug, outside airlock's code)",
)
def test_every_refusal_is_one_well_formed_response(gw):
    bad = []
    for raw, _ in PROTOCOL_ERRORS:
        _, _, _, whole = e2e.raw_http(gw.http_port, raw)
        if whole.count(b"HTTP/1.") > 1:
            bad.append(f"{raw[:30]!r}: {whole[:160]!r}")
    assert not bad, "responses with two header blocks:\n" + "\n".join(bad)


TRAVERSALS = [
    b"/../../etc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    b"/..%2f..%2f..%2fetc%2fpasswd",
    b"/index.html/../../../etc/passwd",
    b"//etc/passwd",
    b"/./././etc/passwd",
    b"/api/v1/tags/../../../../etc/passwd",
    b"/api/v1/tags/%2e%2e/%2e%2e/etc/passwd",
    b"/..\\..\\etc\\passwd",
    b"/etc/passwd%00.html",
    b"/proc/self/environ",
]


@pytest.mark.parametrize("path", TRAVERSALS, ids=[p.decode("latin-1") for p in TRAVERSALS])
def test_path_traversal_serves_nothing(gw, path):
    status, headers, body = request(gw, get(path))
    assert b"root:" not in body and b"PATH=" not in body, f"{path!r} leaked a file"
    assert status in (400, 404), f"{path!r}: status {status}, body {body[:200]!r}"
    assert_json_error(status, headers, body, status, f"GET {path!r}")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_other_methods_get_405(gw, method):
    for path in (b"/api/v1/health", b"/api/v1/tags", b"/", b"/nonexistent"):
        raw = (method.encode() + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               + AUTH + b"Content-Length: 2\r\n\r\n{}")
        status, headers, body = request(gw, raw)
        if path == b"/nonexistent":  # no such resource, whatever the method
            assert_json_error(status, headers, body, 404, f"{method} {path!r}")
            continue
        assert_json_error(status, headers, body, 405, f"{method} {path!r}")
        allow = headers.get("allow", "")
        assert "GET" in allow, f"{method} {path!r}: a 405 must say what is allowed: {allow!r}"
    assert_still_serving(gw)


BAD_PREFIXES = [
    "a//b",
    "/leading",
    "has space",
    "semi;colon",
    "quote%22",
    "nul%00byte",
    "%ff%fe",
    "x" * 300,
    "/".join(["s"] * 20),
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("prefix", BAD_PREFIXES, ids=range(len(BAD_PREFIXES)))
def test_bad_prefix_is_400(gw, prefix):
    quoted = prefix.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
    status, headers, body = request(gw, get(b"/api/v1/tags?prefix=" + quoted.encode("latin-1")))
    assert_json_error(status, headers, body, 400, f"prefix {prefix!r}")
    assert b"<script>" not in body, "the error must not echo markup"


def test_good_prefix_still_works(gw):
    r = gw.get("/api/v1/tags?prefix=" + NS)
    assert r.status == 200 and r.json()["count"] == 1, r
    r = gw.get("/api/v1/tags?prefix=nothing/here")
    assert r.status == 200 and r.json()["count"] == 0, r


def test_long_urls_get_414(gw):
    """Over 2048 bytes (but within the connection's buffer): airlock's 414."""
    for target in (b"/api/v1/tags/" + b"a" * 3000, b"/api/v1/tags?prefix=" + b"a" * 2100,
                   b"/" + b"x" * 20000):
        status, headers, body = request(gw, get(target))
        assert_json_error(status, headers, body, 414, f"a {len(target)}-byte target")
    assert_still_serving(gw)


def test_encoded_nul_does_not_truncate_the_path(gw):
    """%00 in a path must not cut it short: "/api/v1/health%00junk" is not
    "/api/v1/health" (the classic NUL-truncation confusion)."""
    for path in (b"/api/v1/health%00junk", b"/metrics%00.txt", b"/%00/etc/passwd",
                 b"/api/v1/tags%00?prefix=e2e"):
        status, headers, body = request(gw, get(path))
        assert status in (400, 404), f"GET {path!r}: status {status}, body {body[:80]!r}"
        assert_json_error(status, headers, body, status, f"GET {path!r}")


def test_unknown_routes_and_tags_are_404_json(gw):
    for path in (b"/api/v1/nothing", b"/api/v2/tags", b"/api/v1/tags/no/such/tag",
                 b"/api/v1/tags/%zz", b"/api/v1/tags/", b"/metrics/extra", b"/favicon.ico.bak"):
        status, headers, body = request(gw, get(path))
        assert_json_error(status, headers, body, 404, f"GET {path!r}")


def test_smuggling_and_bodies_on_get(gw):
    raw = (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = request(gw, raw)
    assert b"root:" not in body
    assert status is None or 200 <= status < 500, status
    raw = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nabc"
    status, headers, body = request(gw, raw, timeout_s=3)
    assert status is None or status in (200, 400, 413), status
    assert_still_serving(gw)


def test_half_open_and_slow_clients_do_not_block_others(gw):
    """Connections that send half a request and stall must not stop others
    from being served."""
    stalled = []
    try:
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", gw.http_port), timeout=5)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            stalled.append(s)
        r = gw.get("/api/v1/health", timeout_s=10)
        assert r.status == 200
    finally:
        for s in stalled:
            s.close()


def test_many_concurrent_requests(gw):
    results, errors = [], []

    def worker():
        try:
            for _ in range(5):
                r = gw.get("/api/v1/tags", timeout_s=15)
                results.append(r.status)
        except Exception as e:  # noqa: BLE001 - report every failure
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert results and set(results) == {200}, set(results)
    assert_still_serving(gw)


def test_head_requests(gw):
    status, headers, body = request(
        gw, b"HEAD /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and body == b"", (status, body[:100])


def test_security_headers(gw):
    r = gw.get("/api/v1/health")
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Content-Type").startswith("application/json")
    r = gw.get("/")
    assert r.status == 200
    assert r.header("Content-Security-Policy"), "the dashboard needs a CSP"


def connect_from(source_ip, port, timeout_s=5.0):
    """A TCP connection to the server from a chosen loopback address (Linux
    routes all of 127.0.0.0/8 to lo), so that per-client limits can be hit
    without locking out the test's own 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    return s


def test_one_client_cannot_take_every_connection(gw):
    """A client holding more connections than the per-IP limit (128) gets
    the extra ones closed, and other clients are still served."""
    held = []
    try:
        for _ in range(140):
            s = connect_from("127.0.0.2", gw.http_port)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(s)
        r = gw.get("/api/v1/health", timeout_s=10)
        assert r.status == 200
        # Some of the extra connections were closed by the server.
        closed = 0
        for s in held[-12:]:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except (socket.timeout, OSError):
                pass
        assert closed > 0, "connections beyond the per-client limit should be closed at once"
    finally:
        for s in held:
            s.close()
    assert_still_serving(gw)


def open_stream(source_ip, port):
    """An event stream from source_ip: (socket, status, response head). A
    connection refused while the server still sheds the previous test's
    connections is retried for a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        s = connect_from(source_ip, port, timeout_s=10)
        try:
            s.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n" + AUTH +
                      b"Accept: text/event-stream\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionResetError("closed before a response")
                head += chunk
        except ConnectionResetError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        status, _, _ = e2e.parse_http_response(head)
        return s, status, head


def test_stream_limit_gives_503_json(gw):
    """docs/api.md: at most 192 event streams; the next one is refused with a
    503 JSON error, other requests still work, and closing streams frees
    their slots."""
    streams = []
    try:
        for i in range(192):
            s, status, head = open_stream(f"127.0.0.{2 + i // 96}", gw.http_port)
            streams.append(s)
            assert status == 200, f"stream {i + 1}: {head[:200]!r}"
        e2e.wait_until(
            lambda: e2e.metric_values(gw.metrics(), "airlock_http_streams") == [192.0],
            timeout_s=10, what="airlock_http_streams == 192",
        )
        status, headers, body, _ = e2e.raw_http(
            gw.http_port,
            b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH + b"\r\n")
        assert_json_error(status, headers, body, 503, "the 193rd stream")
        assert gw.get("/api/v1/tags").status == 200
    finally:
        for s in streams:
            s.close()
    e2e.wait_until(lambda: e2e.metric_values(gw.metrics(), "airlock_http_streams") == [0.0],
                   timeout_s=10, what="streams released after the clients closed")
    sse = e2e.SseClient(gw.url("/api/v1/stream"))
    try:
        assert sse.status == 200 and sse.next_event(10)[0] == "snapshot"
    finally:
        sse.close()
