"""The IT side's security, end to end against one gateway (with a tank from
`airlock sim` behind it) and the CLI on the same data directory:

- the role/endpoint matrix over every route of src/api/api_dispatch.c's
  table (the table is parsed from the C source and must equal the list
  here, so a new route without a matrix entry fails): anonymous and bad
  credentials get 401 with a challenge, roles below a route's need 403,
  the others what the route answers; only health, login and the
  dashboard's files are public, and anonymous health tells no devices;
- lockout after 5 bad passwords (even the right one is then refused), its
  audit records, and `airlock user passwd` / `enable` clearing it;
- token revocation and `airlock user disable` taking effect on the very
  next request;
- browser sessions: cookie attributes, the CSRF token, foreign origins,
  logout;
- writes through the gate: an allowed write reaching the simulator, every
  refusal with its status and audit record, CSRF on writes, concurrent
  writes, and writes switched off by a reload;
- GET /api/v1/audit's filters and CSV;
- malformed bodies on the login and write routes.
The gateway must survive all of it with a sanitizer-clean stderr."""

import csv
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest

import airlock_e2e as e2e

NS = "e2e/site/area/line/tank"
HIGH_SP = f"{NS}/high_sp"  # operator, 100..950, step 100
LOW_SP = f"{NS}/low_sp"  # engineer, 0..600, one write per minute
LEVEL = f"{NS}/level"  # no write policy
PASSWORD = "sectest-password-0123456789"
ROLES = ("viewer", "operator", "engineer", "admin")
ROLE_RANK = {"viewer": 1, "operator": 2, "engineer": 3, "admin": 4}
TANK_OFFSET = 1  # `airlock sim` serves the tank on port base + 1


def gateway_yaml(sim_port, writes_enabled=True):
    tags = [
        {"name": "high_sp", "area": "holding", "address": 6, "type": "uint16",
         "write": {"role": "operator", "min": 100, "max": 950, "max_step": 100}},
        {"name": "low_sp", "area": "holding", "address": 7, "type": "uint16",
         "write": {"role": "engineer", "min": 0, "max": 600, "min_interval_ms": 60000}},
        {"name": "level", "area": "holding", "address": 0, "type": "float32", "order": "BADC"},
    ]
    dev = e2e.modbus_device("tank", sim_port, tags, interval_ms=100)
    cfg = {"gateway": {"name": "sectest", "log_level": "info"},
           "write_gate": {"enabled": writes_enabled}, "devices": [dev]}
    return e2e.to_yaml(cfg) + "\n"


class Gateway:
    """The module's gateway, its simulator and one API token per role."""

    def __init__(self, group, tmp):
        self.group = group
        self.tmp = tmp
        base = e2e.free_port_range(6)
        self.sim_port = base + TANK_OFFSET
        self.sim = group.start([e2e.airlock_bin(), "sim", "--port-base", str(base)], "sim")
        e2e.wait_until(lambda: e2e.port_is_listening(self.sim_port), timeout_s=15,
                       what="airlock sim listening")
        self.cfg = e2e.write_file(tmp, "sectest.yaml", gateway_yaml(self.sim_port))
        self.a = e2e.Airlock(group, ["-c", self.cfg])
        self.port = self.a.http_port
        self.data = self.a.data_dir
        self.tokens = {"admin": self.a.token}
        for role in ("viewer", "operator", "engineer"):
            self.tokens[role] = e2e.provision_admin(self.data, f"sec-{role}", PASSWORD, role)
        self.a.wait_ready(30)
        self.a.wait_tags(lambda ts: all(ts.get(p, {}).get("quality") == "Good"
                                        for p in (HIGH_SP, LOW_SP, LEVEL)),
                         timeout_s=20, what="tank tags Good")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    group = e2e.ProcessGroup()
    try:
        g = Gateway(group, tmp_path_factory.mktemp("sectest"))
        yield g
        g.a.assert_alive()
        rc, _ = g.a.stop(timeout_s=10)
        assert rc == 0, f"exit status {rc}:\n{g.a.proc.stderr_tail()}"
        g.a.assert_clean_stderr()
        log = g.a.stderr()
        for secret in [PASSWORD, "wrong password 123456", *g.tokens.values()]:
            assert secret not in log, "a password or token reached the log"
    finally:
        group.close()


# ---------------------------------------------------------------- HTTP


def call(gw, method, path, token=None, headers=None, body=None, cookie=None, read=True,
         timeout_s=15.0):
    """One request on a fresh connection. token: a bearer token; cookie: a
    session id. body: bytes, str, or an object sent as JSON (with the JSON
    Content-Type unless headers give one). Returns e2e.Response."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if cookie:
        h["Cookie"] = f"airlock_session={cookie}"
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read() if read else b""
        hdrs = {}
        for k, v in r.getheaders():  # Set-Cookie may come twice: keep them all
            hdrs[k] = v if k not in hdrs else hdrs[k] + "\n" + v
        return e2e.Response(r.status, hdrs, data)
    except OSError:
        gw.a.assert_alive()
        raise
    finally:
        conn.close()


def error_message(r):
    return r.json()["error"]["message"]


def login(gw, user, password=PASSWORD):
    return call(gw, "POST", "/api/v1/login", body={"user": user, "password": password})


def session_of(r):
    """The session id from a login answer's Set-Cookie."""
    m = re.search(r"airlock_session=([^;]+);", r.header("Set-Cookie") or "")
    assert m, f"no session cookie in {r.headers}"
    return m.group(1)


def cli(gw, *args, stdin=None):
    p = subprocess.run([e2e.airlock_bin(), *args, "--data", gw.data], input=stdin,
                       capture_output=True, text=True, timeout=60)
    line = e2e.sanitizer_report(p.stderr)
    assert line is None, f"sanitizer report from the CLI: {line}\n{p.stderr}"
    return p


def audit(gw, **params):
    q = urllib.parse.urlencode(params)
    r = call(gw, "GET", "/api/v1/audit?" + q, token=gw.tokens["admin"])
    assert r.status == 200, r
    return r.json()["records"]


def tag_value(gw, path):
    r = call(gw, "GET", "/api/v1/tags/" + path, token=gw.tokens["viewer"])
    assert r.status == 200, r
    return r.json()


def write(gw, path, value=None, reason="sectest", token=None, cookie=None, headers=None,
          body=None):
    if body is None:
        body = {"value": value, "reason": reason}
    return call(gw, "POST", f"/api/v1/tags/{path}/write", token=token, cookie=cookie,
                headers=headers, body=body)


# ---------------------------------------------------------------- the route table

DISPATCH_C = os.path.join(e2e.SRC, "src", "api", "api_dispatch.c")
WEB_DIR = os.path.join(e2e.SRC, "web")

# Every route of api_dispatch.c: id -> (method, path, shape, least role).
ROUTES = {
    "HEALTH": ("GET", "/api/v1/health", "EXACT", "public"),
    "LOGIN": ("POST", "/api/v1/login", "EXACT", "public"),
    "LOGOUT": ("POST", "/api/v1/logout", "EXACT", "viewer"),
    "SESSION": ("GET", "/api/v1/session", "EXACT", "viewer"),
    "TAGS": ("GET", "/api/v1/tags", "EXACT", "viewer"),
    "TAG_WRITE": ("POST", "/api/v1/tags/", "TAG_WRITE", "operator"),
    "TAG": ("GET", "/api/v1/tags/", "TAG", "viewer"),
    "STREAM": ("GET", "/api/v1/stream", "EXACT", "viewer"),
    "HISTORY": ("GET", "/api/v1/history", "EXACT", "viewer"),
    "HISTORY_AT": ("GET", "/api/v1/history/at", "EXACT", "viewer"),
    "ALERTS": ("GET", "/api/v1/alerts", "EXACT", "viewer"),
    "RELOAD": ("POST", "/api/v1/reload", "EXACT", "engineer"),
    "AUDIT": ("GET", "/api/v1/audit", "EXACT", "engineer"),
    "USERS": ("GET", "/api/v1/users", "EXACT", "admin"),
    "TOKENS": ("GET", "/api/v1/tokens", "EXACT", "admin"),
    "METRICS": ("GET", "/metrics", "EXACT", "viewer"),
    "ASSET": ("GET", "/", "ASSET", "public"),
}


def parse_route_table():
    """{id: (method, path, shape, need)} from the api_routes[] initializer."""
    with open(DISPATCH_C) as f:
        src = f.read()
    defines = dict(re.findall(r'#define\s+(\w+)\s+"([^"]*)"', src))
    m = re.search(r"api_routes\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert m, "api_routes[] not found in api_dispatch.c"
    block = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    entries = re.findall(r"\{([^{}]*)\}", block)
    table = {}
    for e in entries:
        parts = [p.strip() for p in e.split(",")]
        assert len(parts) == 5, f"a route entry this test does not understand: {e!r}"
        rid, method, path, shape, need = parts
        assert rid.startswith("API_ROUTE_") and shape.startswith("API_SHAPE_"), e
        path = path.strip('"') if path.startswith('"') else defines[path]
        need = "public" if need == "API_PUBLIC" else need.replace("AUTH_ROLE_", "").lower()
        assert rid[len("API_ROUTE_"):] not in table, f"route listed twice: {rid}"
        table[rid[len("API_ROUTE_"):]] = (method.strip('"'), path, shape[len("API_SHAPE_"):], need)
    return table


def test_matrix_covers_the_route_table():
    assert parse_route_table() == ROUTES, (
        "api_dispatch.c's route table and this test's ROUTES differ: give every new route a"
        " matrix entry (ROUTES, probes() and ALLOWED_STATUS)"
    )


def assets():
    return ["/"] + sorted("/" + n for n in os.listdir(WEB_DIR) if not n.startswith("."))


def probes(route_id):
    """Concrete requests for a route: [(method, path, body)]."""
    method, path, shape, _ = ROUTES[route_id]
    if route_id == "LOGIN":
        return [(method, path, {"user": "sec-viewer", "password": PASSWORD})]
    if route_id == "TAG_WRITE":
        return [(method, path + "e2e/no/such/tag/write", {"value": 1, "reason": "matrix"})]
    if route_id == "TAG":
        return [(method, path + HIGH_SP, None)]
    if route_id == "HISTORY":
        return [(method, path + "?tag=" + HIGH_SP, None)]
    if route_id == "HISTORY_AT":
        return [(method, path + "?tag=" + HIGH_SP, None)]
    if route_id == "ASSET":
        return [(method, p, None) for p in assets()]
    assert shape == "EXACT", route_id
    return [(method, path, None)]


# What each route answers a caller it lets in, for the probes above.
ALLOWED_STATUS = {
    "HEALTH": 200, "LOGIN": 200,
    "LOGOUT": 400,  # only a session logs out; the matrix uses tokens
    "SESSION": 200, "TAGS": 200,
    "TAG_WRITE": 404,  # the probe's tag does not exist (no device is touched)
    "TAG": 200, "STREAM": 200, "HISTORY": 200, "HISTORY_AT": 200,
    "ALERTS": 200,
    "AUDIT": 200, "USERS": 200, "TOKENS": 200, "METRICS": 200, "ASSET": 200,
    "RELOAD": 200,  # the unchanged file reloads fine
}

BAD_TOKEN = "alk_" + "A" * 43
CALLERS = ["anonymous", "bad_token", "bad_scheme", "bad_session", *ROLES]


def caller_headers(gw, caller):
    if caller == "anonymous":
        return {}
    if caller == "bad_token":
        return {"Authorization": f"Bearer {BAD_TOKEN}"}
    if caller == "bad_scheme":
        return {"Authorization": "Basic c2VjLWFkbWluOnNlY3JldA=="}
    if caller == "bad_session":
        return {"Cookie": "airlock_session=" + "B" * 43}
    return {"Authorization": f"Bearer {gw.tokens[caller]}"}


@pytest.mark.parametrize("caller", CALLERS)
def test_role_endpoint_matrix(gw, caller):
    assert set(ALLOWED_STATUS) == set(ROUTES)
    failures = []
    for rid, (_, _, _, need) in ROUTES.items():
        for method, path, body in probes(rid):
            if need == "public":
                want = ALLOWED_STATUS[rid]
            elif caller not in ROLE_RANK:
                want = 401
            elif ROLE_RANK[caller] < ROLE_RANK[need]:
                want = 403
            else:
                want = ALLOWED_STATUS[rid]
            for m in [method] + (["HEAD"] if method == "GET" else []):
                # An event stream that was let in never ends: status only.
                r = call(gw, m, path, headers=caller_headers(gw, caller), body=body,
                         read=not (rid == "STREAM" and want == 200))
                what = f"{caller} {m} {path}"
                if r.status not in (want if isinstance(want, tuple) else (want,)):
                    failures.append(f"{what}: expected {want}, got {r.status} {r.body[:160]!r}")
                    continue
                if want == 401:
                    if r.header("WWW-Authenticate") != 'Bearer realm="airlock"':
                        failures.append(f"{what}: 401 without the Bearer challenge: {r.headers}")
                    if caller == "bad_session" and "Max-Age=0" not in (r.header("Set-Cookie") or ""):
                        failures.append(f"{what}: a dead session cookie is not cleared")
                if want == 403 and m != "HEAD" and "needs the role " + need not in error_message(r):
                    failures.append(f"{what}: 403 does not name the role needed: {r.body!r}")
                if want == 401 and m != "HEAD" and "error" not in r.json():
                    failures.append(f"{what}: 401 without a JSON error body")
    assert not failures, "\n".join(failures)


def test_only_public_routes_answer_anonymously(gw):
    public = {rid for rid, (_, _, _, need) in ROUTES.items() if need == "public"}
    assert public == {"HEALTH", "LOGIN", "ASSET"}, f"public routes changed: {public}"
    # Anonymous health says how the gateway is, not what it talks to.
    for headers in ({}, {"Authorization": f"Bearer {BAD_TOKEN}"}):
        doc = call(gw, "GET", "/api/v1/health", headers=headers).json()
        assert "devices" not in doc and doc["authenticated"] is False, doc
    doc = call(gw, "GET", "/api/v1/health", token=gw.tokens["viewer"]).json()
    assert [d["name"] for d in doc["devices"]] == ["tank"], doc
    # The dashboard's files carry no plant data.
    for path in assets():
        r = call(gw, "GET", path)
        assert r.status == 200, (path, r)
        assert HIGH_SP.encode() not in r.body and e2e.E2E_ADMIN.encode() not in r.body, path


def test_wrong_methods_get_405_with_allow(gw):
    cases = [
        ("POST", "/api/v1/health", "GET, HEAD"),
        ("GET", "/api/v1/login", "POST"),
        ("DELETE", "/api/v1/tags", "GET, HEAD"),
        ("PUT", f"/api/v1/tags/{HIGH_SP}/write", "GET, HEAD, POST"),  # a tag ending in /write
        ("POST", f"/api/v1/tags/{HIGH_SP}", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
    ]
    for method, path, allow in cases:
        r = call(gw, method, path, token=gw.tokens["admin"])
        assert r.status == 405 and r.header("Allow") == allow, (method, path, r, r.headers)
    for path in ("/api/v1/tags/", "/api/v1/nothing", "/api/v1/health/", "/api/v1/health%00x"):
        assert call(gw, "GET", path, token=gw.tokens["admin"]).status == 404, path


# ---------------------------------------------------------------- lockout


def test_lockout_and_its_audit_trail(gw):
    user, right, newer = "sec-locky", PASSWORD, PASSWORD + "-new"
    e2e.provision_admin(gw.data, user, right, "viewer")
    bad = login(gw, user, "wrong password 123456")
    unknown = login(gw, "sec-nobody", "wrong password 123456")
    assert bad.status == unknown.status == 401
    assert error_message(bad) == error_message(unknown), "user names can be probed"
    for _ in range(4):
        assert login(gw, user, "wrong password 123456").status == 401
    r = login(gw, user, right)
    assert r.status == 401 and "Set-Cookie" not in r.headers, "a locked account logged in"

    failed = audit(gw, action="login_failed", actor=user, order="oldest")
    assert [f["outcome"] for f in failed] == ["bad_password"] * 5 + ["locked"], failed
    assert all(f["details"].startswith("from=127.0.0.1") for f in failed), failed
    locked = audit(gw, action="account_locked", object=user)
    assert len(locked) == 1 and locked[0]["actor"] == "system", locked
    assert "locked_for_s=900" in locked[0]["details"], locked
    nobody = audit(gw, action="login_failed", actor="sec-nobody")
    assert [f["outcome"] for f in nobody] == ["unknown_user"], nobody
    users = {u["name"]: u for u in call(gw, "GET", "/api/v1/users",
                                        token=gw.tokens["admin"]).json()["users"]}
    assert users[user]["locked_until"], users[user]

    # A new password clears the lock.
    p = cli(gw, "user", "passwd", user, "--password-stdin", stdin=newer + "\n")
    assert p.returncode == 0, p.stderr
    r = login(gw, user, newer)
    assert r.status == 200 and r.json()["role"] == "viewer", r
    assert audit(gw, action="login", actor=user, limit=1)[0]["outcome"] == "ok"

    # Locked again; `user enable` clears it too.
    for _ in range(5):
        assert login(gw, user, "wrong password 123456").status == 401
    assert login(gw, user, newer).status == 401
    p = cli(gw, "user", "enable", user)
    assert p.returncode == 0, p.stderr
    assert login(gw, user, newer).status == 200
    assert len(audit(gw, action="account_locked", object=user)) == 2


def test_account_locked_record_counts_the_failures(gw):
    e2e.provision_admin(gw.data, "sec-locky2", PASSWORD, "viewer")
    for _ in range(5):
        assert login(gw, "sec-locky2", "wrong password 123456").status == 401
    locked = audit(gw, action="account_locked", object="sec-locky2")
    assert len(locked) == 1 and "failures=5" in locked[0]["details"], locked


def test_concurrent_logins_are_bounded(gw):
    """At most 4 password checks at once (each costs ~32 MiB): the others
    get 429 with Retry-After, and are not counted as failures."""
    n = 12
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        barrier.wait(10)
        try:
            results[i] = login(gw, "sec-flood-nobody", "wrong password 123456")
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, e2e.Response) for r in results), results
    statuses = sorted(r.status for r in results)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) >= 4, statuses
    for r in results:
        if r.status == 429:
            assert r.header("Retry-After") == "1" and "error" in r.json(), r
    recorded = audit(gw, action="login_failed", actor="sec-flood-nobody", limit=100)
    assert len(recorded) == statuses.count(401), (statuses, len(recorded))


# ---------------------------------------------------------------- tokens, disable


def test_token_revocation_is_immediate(gw):
    p = cli(gw, "token", "create", "--user", "sec-operator", "--name", "revoke-me")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    r = call(gw, "GET", "/api/v1/session", token=token)
    assert r.status == 200 and r.json()["via"] == "token", r
    token_id = r.json()["token_id"]
    assert call(gw, "GET", "/api/v1/tags", token=token).status == 200
    p = cli(gw, "token", "revoke", str(token_id))
    assert p.returncode == 0, p.stderr
    r = call(gw, "GET", "/api/v1/tags", token=token)
    assert r.status == 401 and r.header("WWW-Authenticate"), r
    listed = {t["id"]: t for t in call(gw, "GET", "/api/v1/tokens",
                                       token=gw.tokens["admin"]).json()["tokens"]}
    assert listed[token_id]["revoked"], listed[token_id]
    assert "alk_" not in json.dumps(listed), "a token secret is listed"
    rec = audit(gw, action="token_revoke", limit=1)[0]
    assert rec["outcome"] == "ok", rec


def test_disabled_user_loses_sessions_and_tokens_at_once(gw):
    user = "sec-disabled"
    token = e2e.provision_admin(gw.data, user, PASSWORD, "operator")
    r = login(gw, user)
    assert r.status == 200
    sid = session_of(r)
    assert call(gw, "GET", "/api/v1/tags", cookie=sid).status == 200
    assert call(gw, "GET", "/api/v1/tags", token=token).status == 200
    assert cli(gw, "user", "disable", user).returncode == 0
    assert call(gw, "GET", "/api/v1/tags", cookie=sid).status == 401
    assert call(gw, "GET", "/api/v1/tags", token=token).status == 401
    assert login(gw, user).status == 401
    assert audit(gw, action="login_failed", actor=user, limit=1)[0]["outcome"] == "disabled"
    # Enabled again: the token works, the deleted session does not come back.
    assert cli(gw, "user", "enable", user).returncode == 0
    assert call(gw, "GET", "/api/v1/tags", token=token).status == 200
    assert call(gw, "GET", "/api/v1/tags", cookie=sid).status == 401


# ---------------------------------------------------------------- sessions


def test_session_cookie_csrf_and_logout(gw):
    r = login(gw, "sec-viewer")
    assert r.status == 200, r
    cookie = r.header("Set-Cookie")
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs, cookie
    assert "Secure" not in attrs, "plain HTTP: a Secure cookie would never come back"
    assert r.header("Cache-Control") == "no-store"
    doc = r.json()
    assert doc["user"] == "sec-viewer" and doc["role"] == "viewer" and doc["csrf_token"], doc
    assert "password" not in r.text() and PASSWORD not in r.text()
    sid = session_of(r)

    s = call(gw, "GET", "/api/v1/session", cookie=sid)
    assert s.status == 200, s
    csrf = s.json()["csrf_token"]
    assert s.json()["via"] == "session" and csrf == doc["csrf_token"], s.json()
    # Reading needs no CSRF token; changing state does.
    assert call(gw, "GET", "/api/v1/tags", cookie=sid).status == 200
    origin = f"http://127.0.0.1:{gw.port}"
    refused = [
        {},
        {"X-CSRF-Token": "wrong"},
        {"X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")},
        {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
        {"X-CSRF-Token": csrf, "Origin": f"http://127.0.0.1:{gw.port + 1}"},
        {"X-CSRF-Token": csrf, "Origin": "garbage"},
    ]
    for h in refused:
        r = call(gw, "POST", "/api/v1/logout", cookie=sid, headers=h)
        assert r.status == 403, (h, r)
        assert call(gw, "GET", "/api/v1/session", cookie=sid).status == 200, "session ended"
    r = call(gw, "POST", "/api/v1/logout", cookie=sid,
             headers={"X-CSRF-Token": csrf, "Origin": origin})
    assert r.status == 200 and "Max-Age=0" in r.header("Set-Cookie"), r
    r = call(gw, "GET", "/api/v1/session", cookie=sid)
    assert r.status == 401 and r.header("WWW-Authenticate"), r
    assert audit(gw, action="logout", actor="sec-viewer", limit=1)[0]["outcome"] == "ok"

    # Without an Origin header (older browsers, tools) the token suffices.
    sid = session_of(login(gw, "sec-viewer"))
    csrf = call(gw, "GET", "/api/v1/session", cookie=sid).json()["csrf_token"]
    assert call(gw, "POST", "/api/v1/logout", cookie=sid,
                headers={"X-CSRF-Token": csrf}).status == 200
    assert call(gw, "GET", "/api/v1/session", cookie=sid).status == 401
    # A token overrides nothing: a token request with a cookie is the token's.
    sid = session_of(login(gw, "sec-viewer"))
    r = call(gw, "GET", "/api/v1/users", cookie=sid, token=gw.tokens["admin"])
    assert r.status == 200


# ---------------------------------------------------------------- writes


def sim_register(gw, address):
    from pymodbus.client import ModbusTcpClient

    c = ModbusTcpClient("127.0.0.1", port=gw.sim_port)
    assert c.connect(), "cannot reach the simulator"
    try:
        r = c.read_holding_registers(address, 1, slave=1)
        assert not r.isError(), r
        return r.registers[0]
    finally:
        c.close()


def audit_by_reason(gw, reason):
    return [r for r in audit(gw, action="write", limit=1000) if r["reason"] == reason]


def allowed_then_outcome(gw, reason):
    """An allowed write leaves two records, the attempt ("allowed", written
    before anything reaches the device) and then its outcome: returns the
    outcome record after checking the pair."""
    outcome, allowed = audit_by_reason(gw, reason)  # newest first
    assert allowed["outcome"] == "allowed" and allowed["id"] < outcome["id"], (allowed, outcome)
    for k in ("actor", "object", "old_value", "new_value", "reason"):
        assert allowed[k] == outcome[k], (k, allowed, outcome)
    return outcome


def good_value(gw, path):
    t = e2e.wait_until(lambda: (lambda t: t if t["quality"] == "Good" else None)(tag_value(gw, path)),
                       what=f"{path} Good")
    return t["value"]


def settle(gw, path, value):
    e2e.wait_until(lambda: tag_value(gw, path)["value"] == value, timeout_s=5,
                   what=f"{path} polled as {value}")


def test_allowed_write_reaches_the_device(gw):
    current = good_value(gw, HIGH_SP)
    new = current + 50 if current + 50 <= 950 else current - 50
    reason = f"raise the high level setpoint {uuid.uuid4()}"
    r = write(gw, HIGH_SP, new, reason, token=gw.tokens["operator"])
    assert r.status == 200, r
    doc = r.json()
    assert doc["outcome"] == "ok" and doc["read_back"] == new, doc
    assert doc["old_value"] == str(current) and doc["requested"] == str(new), doc
    assert doc["read_back_quality"] == "Good" and doc["error"] is None, doc
    assert sim_register(gw, 6) == new, "the simulator's register did not change"
    settle(gw, HIGH_SP, new)
    rec = allowed_then_outcome(gw, reason)
    token_id = call(gw, "GET", "/api/v1/session", token=gw.tokens["operator"]).json()["token_id"]
    assert rec["actor"] == f"sec-operator (token {token_id})", rec
    assert rec["object"] == HIGH_SP and rec["outcome"] == "ok", rec
    assert rec["old_value"] == str(current) and rec["new_value"] == str(new), rec
    assert f"read_back={new}" in rec["details"] and "device=tank" in rec["details"], rec


def expect_refusal(gw, path, value, status, verdict, token, reason=None, body=None):
    reason = reason if reason is not None else f"refusal {verdict} {uuid.uuid4()}"
    before = sim_register(gw, 6), sim_register(gw, 7)
    r = write(gw, path, value, reason, token=token, body=body)
    assert r.status == status, (verdict, r)
    doc = r.json()
    assert doc["error"]["code"] == status and doc["error"]["message"], doc
    assert doc["verdict"] == verdict, (verdict, doc)
    assert (sim_register(gw, 6), sim_register(gw, 7)) == before, f"{verdict}: the device changed"
    return r, reason


def test_refused_writes_each_answer_and_are_audited(gw):
    op, eng = gw.tokens["operator"], gw.tokens["engineer"]
    current = good_value(gw, HIGH_SP)
    assert 250 <= current <= 900, f"the test needs room around {current}"
    cases = [
        (LEVEL, 50.0, 403, "refused_tag_off", op),
        (LOW_SP, 200, 403, "refused_role", op),
        (HIGH_SP, current, 400, "refused_no_reason", op, ""),
        (HIGH_SP, current, 400, "refused_no_reason", op, "   "),
        (HIGH_SP, "123", 400, "refused_type", op),
        (HIGH_SP, True, 400, "refused_type", op),
        (HIGH_SP, current + 0.5, 400, "refused_type", op),
        (HIGH_SP, -5, 400, "refused_type", op),  # a uint16: negative is not its type
        (HIGH_SP, 960, 422, "refused_above_max", op),
        (HIGH_SP, 99, 422, "refused_below_min", op),
        (HIGH_SP, current - 150, 422, "refused_step", op),
        (HIGH_SP, current - 101, 422, "refused_step", eng),
    ]
    for path, value, status, verdict, token, *reason in cases:
        r, why = expect_refusal(gw, path, value, status, verdict, token,
                                reason[0] if reason else None)
        recs = [x for x in audit(gw, action="write", object=path, limit=1)]
        rec = recs[0]
        assert rec["outcome"] == verdict and rec["object"] == path, (verdict, rec)
        assert (rec["reason"] or "") == why, (verdict, rec)
        assert rec["actor"].startswith("sec-"), rec
        assert rec["details"], f"{verdict}: the audit record does not say why: {rec}"
        if path == HIGH_SP:
            assert rec["old_value"] == str(current), rec

    # A refusal never echoes what was sent.
    r = write(gw, HIGH_SP, "<script>", token=op)
    assert r.status == 400 and r.header("Content-Type") == "application/json", r
    assert b"<script>" not in r.body, r

    # Unknown tags: 404, audited with the path asked for.
    for path in ("e2e/site/area/line/tank/nope", "e2e/%3Cscript%3E/x"):
        r = write(gw, path, 1, "unknown tag", token=op)
        assert r.status == 404 and r.json()["verdict"] == "refused_unknown_tag", r
    recs = audit(gw, action="write", limit=2)
    assert [x["outcome"] for x in recs] == ["refused_unknown_tag"] * 2, recs
    assert recs[1]["object"] == "e2e/site/area/line/tank/nope", recs
    assert recs[0]["object"] == "(invalid path)", recs

    # Too soon: one engineer write per minute on low_sp.
    low = good_value(gw, LOW_SP)
    first = 250 if low != 250 else 260
    r = write(gw, LOW_SP, first, "first of the minute", token=eng)
    assert r.status == 200 and r.json()["outcome"] == "ok", r
    assert sim_register(gw, 7) == first
    expect_refusal(gw, LOW_SP, first + 10, 429, "refused_too_soon", eng)
    assert audit(gw, action="write", object=LOW_SP, limit=1)[0]["outcome"] == "refused_too_soon"


def test_writes_refused_before_the_gate_are_audited(gw):
    """A viewer (role), a bad session (CSRF) and no credentials at all are
    refused by the route table, before the write handler; each attempt is
    still in the trail, anonymous ones at most once a second."""
    before = sim_register(gw, 6)
    r = write(gw, HIGH_SP, 500, "viewer tries", token=gw.tokens["viewer"])
    assert r.status == 403 and "needs the role operator" in error_message(r), r
    rec = audit(gw, action="write", limit=1)[0]
    token_id = call(gw, "GET", "/api/v1/session", token=gw.tokens["viewer"]).json()["token_id"]
    assert rec["actor"] == f"sec-viewer (token {token_id})", rec
    assert rec["object"] == HIGH_SP and rec["outcome"] == "refused_role", rec

    sid = session_of(login(gw, "sec-operator"))
    r = write(gw, HIGH_SP, 500, "no csrf", cookie=sid)
    assert r.status == 403, r
    rec = audit(gw, action="write", limit=1)[0]
    assert rec["actor"] == "sec-operator" and rec["outcome"] == "refused_csrf", rec

    time.sleep(1.1)  # a new second for the anonymous ones
    n_before = len(audit(gw, action="write", actor="anonymous", limit=1000))
    for i in range(5):
        headers = {"Authorization": f"Bearer {BAD_TOKEN}"} if i % 2 else {}
        r = write(gw, HIGH_SP, 500, "anonymous", headers=headers)
        assert r.status == 401, r
    recs = audit(gw, action="write", actor="anonymous", limit=1000)
    assert 1 <= len(recs) - n_before <= 2, recs[:3]  # at most one a second
    assert recs[0]["outcome"] == "refused_unauthenticated" and recs[0]["object"] == HIGH_SP
    assert sim_register(gw, 6) == before


def test_write_with_a_session_needs_csrf(gw):
    r = login(gw, "sec-operator")
    sid, csrf = session_of(r), r.json()["csrf_token"]
    current = good_value(gw, HIGH_SP)
    new = current + 20 if current + 20 <= 950 else current - 20
    for h in ({}, {"X-CSRF-Token": "nope"},
              {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}):
        r = write(gw, HIGH_SP, new, "csrf test", cookie=sid, headers=h)
        assert r.status == 403 and "verdict" not in r.json(), (h, r)
        assert sim_register(gw, 6) == current, "a write without CSRF token reached the device"
    reason = f"csrf ok {uuid.uuid4()}"
    r = write(gw, HIGH_SP, new, reason, cookie=sid,
              headers={"X-CSRF-Token": csrf, "Origin": f"http://127.0.0.1:{gw.port}"})
    assert r.status == 200 and r.json()["outcome"] == "ok", r
    assert sim_register(gw, 6) == new
    rec = allowed_then_outcome(gw, reason)
    assert rec["actor"] == "sec-operator", rec  # a session, not a token
    settle(gw, HIGH_SP, new)


def test_concurrent_writes_each_get_an_answer_and_a_record(gw):
    current = good_value(gw, HIGH_SP)
    tag = uuid.uuid4().hex[:8]
    n = 8
    results = [None] * n

    def one(i):
        value = max(100, min(950, current + (i % 5) * 10 - 20))
        try:
            results[i] = write(gw, HIGH_SP, value, f"concurrent {tag} {i}",
                               token=gw.tokens["operator" if i % 2 else "engineer"]).status
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(s in (200, 422) for s in results), results
    assert 200 in results, results
    every = [r for r in audit(gw, action="write", limit=1000)
             if f"concurrent {tag} " in (r["reason"] or "")]
    recs = [r for r in every if r["outcome"] != "allowed"]  # one outcome per attempt
    assert sorted(r["reason"] for r in recs) == sorted(f"concurrent {tag} {i}" for i in range(n))
    for i, status in enumerate(results):
        [rec] = [r for r in recs if r["reason"] == f"concurrent {tag} {i}"]
        assert (rec["outcome"] == "ok") == (status == 200), (i, status, rec)
        allowed = [r for r in every if r["reason"] == rec["reason"] and r["outcome"] == "allowed"]
        assert len(allowed) == (1 if status == 200 else 0), (i, status, allowed)
    assert gw.a.proc.alive()


# ---------------------------------------------------------------- the audit route


def test_audit_filters_and_csv(gw):
    admin = gw.tokens["admin"]
    # Records of our own, so the test stands alone (earlier ones add more).
    for _ in range(3):
        assert login(gw, "sec-filter-nobody", "wrong password 123456").status == 401
    expect_refusal(gw, LEVEL, 1.0, 403, "refused_tag_off", gw.tokens["operator"])
    everything = audit(gw, order="oldest", limit=10000)
    assert len(everything) >= 5, everything
    text = json.dumps(everything)
    for secret in [PASSWORD, "wrong password 123456", "alk_", *gw.tokens.values()]:
        assert secret not in text, "a password or token reached the audit trail"
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    newest = audit(gw, limit=10000)
    assert [r["id"] for r in newest] == ids[::-1], "the default order is newest first"
    assert len(audit(gw)) == min(100, len(ids)), "the default limit is 100"

    for key, value in (("actor", "sec-filter-nobody"), ("action", "login_failed"),
                       ("action", "write"), ("actor", "system")):
        got = audit(gw, **{key: value}, limit=10000)
        want = [r for r in newest if r[key] == value]
        assert got == want and got, (key, value)
    got = audit(gw, object=NS, limit=10000)
    assert got and got == [r for r in newest if (r["object"] or "").startswith(NS)]
    assert audit(gw, object=NS + "/nothing-here") == []
    assert audit(gw, actor="nobody-at-all") == []

    mid = everything[len(everything) // 2]
    ms = mid["time_ns"] // 1000000
    after = audit(gw, order="oldest", limit=10000, **{"from": str(ms)})
    assert after == [r for r in everything if r["time_ns"] >= ms * 1000000]
    before = audit(gw, order="oldest", limit=10000, to=str(ms))
    assert before == [r for r in everything if r["time_ns"] < ms * 1000000]
    exact = audit(gw, order="oldest", limit=10000, **{"from": mid["time"]})  # RFC 3339, ns
    assert exact == [r for r in everything if r["time_ns"] >= mid["time_ns"]]
    assert exact[0]["id"] <= mid["id"]
    assert audit(gw, limit=10000, **{"from": "now-1h"}) == newest
    assert audit(gw, to="now-1h") == []
    assert audit(gw, order="oldest", limit=2, offset=3) == everything[3:5]
    assert audit(gw, order="oldest", offset=len(everything) + 10) == []

    r = call(gw, "GET", "/api/v1/audit?format=csv&order=oldest&limit=10000", token=admin)
    assert r.status == 200 and r.header("Content-Type").startswith("text/csv"), r
    rows = list(csv.reader(io.StringIO(r.text())))
    assert rows[0] == ["id", "time", "time_ns", "actor", "action", "object", "old_value",
                       "new_value", "reason", "outcome", "details", "prev_hash", "hash"], rows[0]
    body = rows[1:]
    assert [int(x[0]) for x in body] == ids, "CSV rows differ from the JSON records"
    by_id = {x["id"]: x for x in everything}
    for row in body:
        rec = by_id[int(row[0])]
        assert row[3] == (rec["actor"] or "") and row[4] == rec["action"], (row, rec)
        assert row[12] == rec["hash"], (row, rec)
    r = call(gw, "GET", "/api/v1/audit?format=csv&actor=nobody-at-all", token=admin)
    assert list(csv.reader(io.StringIO(r.text()))) == [rows[0]], "an empty CSV has its header"

    bad = [("limit", "0"), ("limit", "abc"), ("limit", "10001"), ("limit", "-1"),
           ("offset", "-1"), ("offset", "1e3"), ("order", "sideways"), ("format", "xml"),
           ("from", "yesterday-ish"), ("to", "2026-13-45T99:00:00Z")]
    for key, value in bad:
        r = call(gw, "GET", "/api/v1/audit?" + urllib.parse.urlencode({key: value}), token=admin)
        assert r.status == 400 and r.header("Content-Type") == "application/json", (key, r)
        assert f"'{key}'" in error_message(r), (key, error_message(r))
    # %00 is never decoded (api_percent_decode): the value is the literal text.
    r = call(gw, "GET", "/api/v1/audit?actor=a%00b", token=admin)
    assert r.status == 400 or (r.status == 200 and r.json()["records"] == []), r
    # Read-only: no method changes the trail.
    for m in ("POST", "PUT", "DELETE", "PATCH"):
        r = call(gw, m, "/api/v1/audit", token=admin, body=b"{}",
                 headers={"Content-Type": "application/json"})
        assert r.status == 405, (m, r)
    assert audit(gw, order="oldest", limit=len(everything)) == everything


# ---------------------------------------------------------------- bad input


def test_bad_bodies_on_login_and_write(gw):
    op = gw.tokens["operator"]
    json_ct = {"Content-Type": "application/json"}
    huge = b'{"user": "sec-viewer", "password": "' + b"x" * (16 * 1024) + b'"}'
    deep = b"[" * 8000 + b"]" * 8000
    cases = [
        (b"user=sec-viewer&password=x", json_ct, 400),
        (b"", json_ct, 400),
        (b"not json", json_ct, 400),
        (b"[]", json_ct, 400),
        (b'"string"', json_ct, 400),
        (deep, json_ct, 400),
        (b'{"user": "sec-viewer"}', json_ct, 400),
        (b'{"password": "x"}', json_ct, 400),
        (b'{"user": 1, "password": 2}', json_ct, 400),
        (b'{"user": "sec-viewer", "password": "x", "user": "sec-admin"}', json_ct, 400),
        (b'{"user": "sec-viewer", "password": "x"} trailing', json_ct, 400),
        (b'{"user": "sec-\xff\xfe", "password": "\xc0\xaf"}', json_ct, 400),
        (b'{"user": "sec-viewer", "password": "' + PASSWORD.encode() + b'"}',
         {"Content-Type": "text/plain"}, 415),
        (b'{"user": "sec-viewer", "password": "' + PASSWORD.encode() + b'"}', {}, 415),
        (huge, json_ct, 413),
        (b"x" * (1024 * 1024), json_ct, 413),
    ]
    for body, headers, status in cases:
        r = call(gw, "POST", "/api/v1/login", body=body, headers=headers)
        assert r.status == status, (body[:60], r)
        assert "Set-Cookie" not in r.headers and "error" in r.json(), (body[:60], r)

    path = f"/api/v1/tags/{HIGH_SP}/write"
    before = sim_register(gw, 6)
    wcases = [
        (b'{"value": 500}', json_ct, 400),  # no reason: refused by the gate
        (b'{"reason": "no value"}', json_ct, 400),
        (b'{"value": 500, "reason": 7}', json_ct, 400),
        (b'{"value": 500, "value": 510, "reason": "dup"}', json_ct, 400),
        (b'{"value": 500, "reason": "dup", "reason": "dup2"}', json_ct, 400),
        (b"not json", json_ct, 400),
        (deep, json_ct, 400),
        (b'{"value": NaN, "reason": "nan"}', json_ct, 400),
        (b'{"value": 1e400, "reason": "inf"}', json_ct, 400),
        (b'{"value": 500, "reason": "plain"}', {"Content-Type": "text/plain"}, 415),
        (b'{"value": 500, "reason": "none"}', {}, 415),
        (b'{"value": 500, "reason": "' + b"r" * (16 * 1024) + b'"}', json_ct, 413),
    ]
    for body, headers, status in wcases:
        r = call(gw, "POST", path, body=body, headers=headers, token=op)
        assert r.status == status, (body[:60], r)
        assert "error" in r.json(), (body[:60], r)
    assert sim_register(gw, 6) == before, "a malformed write reached the device"
    outcomes = [x["outcome"] for x in audit(gw, action="write", object=HIGH_SP, limit=12)]
    # Newest first: the 413, the 415s and the 8 malformed bodies, then the
    # missing reason.
    assert outcomes == ["refused_malformed"] * 11 + ["refused_no_reason"], outcomes

    # Raw bytes: a body longer than its Content-Length, a chunked body over
    # the limit, a request cut short.
    raw = (b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    raw += b"".join(b"1000\r\n" + b"a" * 4096 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n"
    status, _, _, _ = e2e.raw_http(gw.port, raw)
    assert status == 413, status
    raw = (b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000\r\nConnection: close\r\n\r\n{\"user\"")
    e2e.raw_http(gw.port, raw, timeout_s=2)
    assert call(gw, "GET", "/api/v1/health").status == 200
    assert gw.a.proc.alive()


# ---------------------------------------------------------------- writes off (last: reloads)


def test_writes_globally_off_after_a_reload(gw):
    with open(gw.cfg, "w") as f:
        f.write(gateway_yaml(gw.sim_port, writes_enabled=False))
    before = len(audit(gw, action="config_change", limit=1000))
    gw.a.proc.signal(signal.SIGHUP)
    e2e.wait_until(lambda: len(audit(gw, action="config_change", limit=1000)) > before,
                   timeout_s=15, what="the reload in the audit trail")
    assert audit(gw, action="config_change", limit=1)[0]["outcome"] == "ok"
    current = good_value(gw, HIGH_SP)
    for token in (gw.tokens["operator"], gw.tokens["admin"]):
        r, _ = expect_refusal(gw, HIGH_SP, current, 403, "refused_globally_off", token)
    rec = audit(gw, action="write", limit=1)[0]
    assert rec["outcome"] == "refused_globally_off" and rec["object"] == HIGH_SP, rec


def alerts(gw, **params):
    r = call(gw, "GET", "/api/v1/alerts?" + urllib.parse.urlencode(params),
             token=gw.tokens["viewer"])
    assert r.status == 200, r
    return r.json()["alerts"]


def test_refused_writes_and_repeated_auth_failures_raise_alerts(gw):
    """Monitoring of the IT side (docs/monitoring.md): a refused write and
    repeated failed credentials from one client become alerts, each also
    in the audit trail."""
    r = write(gw, HIGH_SP, 5000, "far above max", token=gw.tokens["operator"])
    assert r.status in (403, 422), r  # above max, or writes already off (an earlier test)
    found = [a for a in alerts(gw, kind="write_refused") if a["subject"] == "sec-operator"]
    assert found and found[0]["active"] and HIGH_SP in found[0]["message"], found
    for i in range(5):
        assert call(gw, "GET", "/api/v1/tags", token=f"alk_not-a-token-{i}").status == 401
    found = [a for a in alerts(gw, kind="auth_failures") if a["subject"] == "client 127.0.0.1"]
    assert found and "invalid API tokens" in found[0]["message"], found
    objects = {x["object"] for x in audit(gw, action="alert", limit=1000)}
    assert "write_refused/sec-operator" in objects, objects
    assert "auth_failures/client 127.0.0.1" in objects, objects


def test_writes_fail_closed_without_an_audit_trail(gw, tmp_path):
    """A second gateway on the same simulator whose audit trail cannot be
    opened (audit.db is a directory): it runs and reads, but refuses every
    write with 503 and the device is untouched."""
    group = e2e.ProcessGroup()
    try:
        data = tmp_path / "data"
        os.makedirs(data / "audit.db")
        cfg = e2e.write_file(tmp_path, "noaudit.yaml", gateway_yaml(gw.sim_port))
        a = e2e.Airlock(group, ["-c", cfg, "--data", str(data)])
        a.wait_ready(30)
        assert "audit trail unavailable" in a.stderr(), a.proc.stderr_tail()
        before = sim_register(gw, 6)
        r = call(type("G", (), {"port": a.http_port, "a": a})(), "POST",
                 f"/api/v1/tags/{HIGH_SP}/write", token=a.token,
                 body={"value": 500, "reason": "no trail"})
        assert r.status == 503 and r.json()["verdict"] == "refused_no_audit_trail", r
        assert sim_register(gw, 6) == before
        assert a.get("/api/v1/tags").status == 200, "reading still works"
        rc, _ = a.stop(timeout_s=10)
        assert rc == 0
        a.assert_clean_stderr()
    finally:
        group.close()


def test_open_event_streams_end_when_their_credential_does(gw):
    """Revoking a token, logging out or disabling the user also ends event
    streams opened with them (checked every 2 s), not only new requests."""
    p = cli(gw, "token", "create", "--user", "sec-viewer", "--name", "stream-revoke")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    url = f"http://127.0.0.1:{gw.port}/api/v1/stream"
    sse = e2e.SseClient(url, token=token)
    try:
        assert sse.status == 200 and sse.next_event(10)[0] == "snapshot"
        token_id = call(gw, "GET", "/api/v1/session", token=token).json()["token_id"]
        assert cli(gw, "token", "revoke", str(token_id)).returncode == 0
        t0 = time.monotonic()
        with pytest.raises((EOFError, ConnectionError, e2e.Timeout)):
            while True:
                sse.next_event(10)
        assert time.monotonic() - t0 < 8, "the stream must end within a few seconds"
    finally:
        sse.close()
    # A session's stream ends at logout.
    sid = session_of(login(gw, "sec-viewer"))
    raw = socket_stream_with_cookie(gw.port, sid)
    try:
        csrf = call(gw, "GET", "/api/v1/session", cookie=sid).json()["csrf_token"]
        assert call(gw, "POST", "/api/v1/logout", cookie=sid,
                    headers={"X-CSRF-Token": csrf}).status == 200
        raw.settimeout(8)
        got = b""
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            chunk = raw.recv(65536)
            if not chunk:
                break
            got += chunk
        assert time.monotonic() - t0 < 8, "the session's stream must end after logout"
        assert b"event: snapshot" in got
    finally:
        raw.close()


def socket_stream_with_cookie(port, sid):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              f"Cookie: airlock_session={sid}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return s
