"""Configuration reload on SIGHUP: a valid new file takes effect (tags added
and removed) without a restart; a broken one is refused with its position in
the log while the running configuration keeps polling; the HTTP address
given with --http survives reloads."""

import json
import os
import signal
import sqlite3
import time

import airlock_e2e as e2e

NS = "e2e/site/area/line/plc"


def peer(procs, tmp_path):
    port = e2e.free_port()
    spec = {
        "size": 100,
        "points": [
            {"unit": 1, "area": "holding", "address": 1, "type": "uint16", "value": 1234},
            {"unit": 1, "area": "holding", "address": 2, "type": "int16", "value": -5678},
        ],
        "counters": [{"unit": 1, "area": "holding", "address": 0, "period_ms": 100}],
    }
    e2e.start_modbus_peer(procs, port, spec, tmpdir=str(tmp_path))
    return port


def tags_v1():
    return [
        {"name": "counter", "area": "holding", "address": 0, "type": "uint16"},
        {"name": "fixed", "area": "holding", "address": 1, "type": "uint16"},
    ]


def write_config(path, text):
    """Replaces the file atomically, as an editor or deployment tool would."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def config_text(port, tags, http_port=None):
    return e2e.gateway_config(
        [e2e.modbus_device("plc", port, tags, interval_ms=100)], http_port=http_port
    )


def log_count(gw, needle):
    return gw.stderr().count(needle)


def wait_updating(gw, path, what):
    """Waits until the tag's timestamp moves forward (it is being polled)."""
    t0 = gw.tag(path)["timestamp_ms"] or 0
    e2e.wait_until(lambda: (gw.tag(path)["timestamp_ms"] or 0) > t0, timeout_s=10, what=what)


def test_sighup_reloads_and_refuses_broken_files(procs, start_airlock, tmp_path):
    port = peer(procs, tmp_path)
    cfg = os.path.join(str(tmp_path), "gateway.yaml")
    # The file names the same HTTP address as --http: this test is about the
    # devices and tags (the next one about the address).
    http = e2e.free_port()

    def text(tags):
        return config_text(port, tags, http_port=http)

    write_config(cfg, text(tags_v1()))
    gw = start_airlock(["-c", cfg], http_port=http)
    gw.wait_tags(lambda ts: ts[f"{NS}/fixed"]["quality"] == "Good", what="v1 tags Good")
    assert f"{NS}/added" not in gw.tags()

    # 1. A valid file with one more tag.
    v2 = tags_v1() + [{"name": "added", "area": "holding", "address": 2, "type": "int16"}]
    write_config(cfg, text(v2))
    reloaded = log_count(gw, "configuration reloaded")
    gw.proc.signal(signal.SIGHUP)
    tags = gw.wait_tags(
        lambda ts: f"{NS}/added" in ts and ts[f"{NS}/added"]["quality"] == "Good",
        what="the added tag Good after SIGHUP",
    )
    assert tags[f"{NS}/added"]["value"] == -5678
    assert tags[f"{NS}/fixed"]["value"] == 1234
    e2e.wait_until(lambda: log_count(gw, "configuration reloaded") > reloaded,
                   what="'configuration reloaded' logged")
    wait_updating(gw, f"{NS}/counter", "the old tags keep updating after the reload")

    # 2. A broken file: refused, with its position; everything keeps running.
    lines = text(v2).splitlines()
    bad_line = next(i for i, l in enumerate(lines) if l.strip().startswith("unit_id:")) + 1
    lines[bad_line - 1] = lines[bad_line - 1].replace("unit_id", "unit_idd")
    col = lines[bad_line - 1].index("unit_idd") + 1
    write_config(cfg, "\n".join(lines) + "\n")
    refused = log_count(gw, "reload refused")
    gw.proc.signal(signal.SIGHUP)
    e2e.wait_until(lambda: log_count(gw, "reload refused") > refused, what="reload refused logged")
    log = gw.stderr()
    refusal = [l for l in log.splitlines() if "reload refused" in l][-1]
    assert f"{cfg}:{bad_line}:{col}:" in refusal, f"the refusal must name the position: {refusal}"
    assert "level=error" in refusal, refusal
    assert gw.proc.alive()
    for name in ("counter", "fixed", "added"):
        wait_updating(gw, f"{NS}/{name}", f"{name} keeps updating after a refused reload")
    assert set(gw.tags()) == {f"{NS}/counter", f"{NS}/fixed", f"{NS}/added"}
    assert gw.health()["status"] == "ok"

    # 3. A valid file again, this time removing a tag.
    write_config(cfg, text([tags_v1()[0]]))
    gw.proc.signal(signal.SIGHUP)
    gw.wait_tags(lambda ts: set(ts) == {f"{NS}/counter"}, what="removed tags gone")
    r = gw.get(f"/api/v1/tags/{NS}/fixed")
    assert r.status == 404, r
    wait_updating(gw, f"{NS}/counter", "the remaining tag keeps updating")

    rc, elapsed = gw.stop()
    assert rc == 0, f"exit status {rc} after {elapsed:.1f} s"

    # 4. The audit trail has the start, each reload (the diff, the refusal
    #    with its position) and the stop, by "system", and verifies.
    db = sqlite3.connect(os.path.join(gw.data_dir, "audit.db"))
    rows = db.execute(
        "SELECT actor, action, object, outcome, details FROM audit"
        " WHERE actor = 'system' ORDER BY id"
    ).fetchall()
    db.close()
    assert [(r[1], r[3]) for r in rows] == [
        ("start", "ok"),
        ("config_change", "ok"),
        ("config_change", "refused"),
        ("config_change", "ok"),
        ("stop", "ok"),
    ], rows
    assert all(r[0] == "system" and r[2] == cfg for r in rows), rows
    added = rows[1][4]
    assert added.startswith("@@ line ") and '+          - name: "added"' in added, added
    assert f"{cfg}:{bad_line}:{col}:" in rows[2][4], rows[2][4]
    removed = rows[3][4]
    assert any(l.startswith("-") and "fixed" in l for l in removed.splitlines()), removed
    assert rows[4][4] == "signal=SIGTERM", rows[4]
    r = e2e.run_airlock(["audit", "verify", "--data", gw.data_dir])
    # (plus the two records of the harness creating its user and token)
    assert r.returncode == 0 and "audit trail intact: 7 records" in r.stdout, r.stdout + r.stderr


def test_reload_keeps_the_http_address_given_on_the_command_line(procs, start_airlock, tmp_path):
    """--http overrides http.listen; a reload must not move the server to
    the file's address (the operator chose the command line's)."""
    port = peer(procs, tmp_path)
    file_http = e2e.free_port()
    cfg = os.path.join(str(tmp_path), "gateway.yaml")
    write_config(cfg, config_text(port, tags_v1(), http_port=file_http))
    gw = start_airlock(["-c", cfg])  # with --http 127.0.0.1:<another port>
    assert gw.http_port != file_http
    gw.wait_tags(lambda ts: ts[f"{NS}/fixed"]["quality"] == "Good", what="tags Good")
    reloaded = log_count(gw, "configuration reloaded")
    gw.proc.signal(signal.SIGHUP)
    e2e.wait_until(lambda: log_count(gw, "configuration reloaded") > reloaded,
                   what="'configuration reloaded' logged")
    time.sleep(0.3)
    assert e2e.port_is_listening(gw.http_port), (
        f"after SIGHUP the API no longer answers on --http port {gw.http_port}"
        f" (listening on the file's port {file_http}: {e2e.port_is_listening(file_http)})"
    )
    assert gw.health()["devices"]
    rc, _ = gw.stop()
    assert rc == 0


def test_sighup_without_config_file_is_ignored(start_airlock):
    """The demo plant has no file to re-read: SIGHUP changes nothing."""
    base = e2e.free_port_range(16)
    gw = start_airlock(["--sim-port-base", str(base)])
    before = set(gw.wait_tags(lambda ts: ts and all(t["quality"] == "Good" for t in ts.values()),
                              timeout_s=20, what="demo tags Good"))
    gw.proc.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert gw.proc.alive()
    assert set(gw.tags()) == before
    rc, _ = gw.stop()
    assert rc == 0


def test_event_stream_gets_a_new_snapshot_after_reload(procs, start_airlock, tmp_path):
    """docs/api.md: when the tag set is replaced, open streams receive a new
    snapshot with the new set."""
    port = peer(procs, tmp_path)
    http = e2e.free_port()
    cfg = os.path.join(str(tmp_path), "gateway.yaml")
    write_config(cfg, config_text(port, tags_v1(), http_port=http))
    gw = start_airlock(["-c", cfg], http_port=http)
    gw.wait_tags(lambda ts: ts[f"{NS}/fixed"]["quality"] == "Good", what="v1 tags Good")
    sse = e2e.SseClient(gw.url("/api/v1/stream"))
    try:
        name, data = sse.next_event(10)
        assert name == "snapshot"
        assert {t["path"] for t in json.loads(data)["tags"]} == {f"{NS}/counter", f"{NS}/fixed"}
        v2 = tags_v1() + [{"name": "added", "area": "holding", "address": 2, "type": "int16"}]
        write_config(cfg, config_text(port, v2, http_port=http))
        gw.proc.signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while True:
            assert time.monotonic() < deadline, "no new snapshot after the reload"
            name, data = sse.next_event(10)
            if name == "snapshot":
                paths = {t["path"] for t in json.loads(data)["tags"]}
                assert paths == {f"{NS}/counter", f"{NS}/fixed", f"{NS}/added"}, paths
                break
            assert name == "update", name
    finally:
        sse.close()
    rc, _ = gw.stop()
    assert rc == 0


def test_reload_through_the_api_by_an_engineer(procs, tmp_path):
    """POST /api/v1/reload (docs/api.md): the engineer role reloads the file
    as SIGHUP does; the audit trail names the engineer; a broken file is
    refused with its position (422); lower roles get 403; the demo plant has
    nothing to reload (409)."""
    port = peer(procs, tmp_path)
    cfg = os.path.join(str(tmp_path), "api-reload.yaml")
    write_config(cfg, config_text(port, tags_v1()))
    gw = e2e.Airlock(procs, ["-c", cfg]).wait_ready()
    gw.wait_tags(lambda ts: f"{NS}/fixed" in ts, what="initial tags")
    engineer = e2e.provision_admin(gw.data_dir, "api-engineer", "engineer-password-1", "engineer")
    operator = e2e.provision_admin(gw.data_dir, "api-operator", "operator-password-1", "operator")

    def reload(token):
        return e2e.http_get(gw.url("/api/v1/reload"), method="POST", token=token, data=b"")

    r = reload(operator)
    assert r.status == 403 and "engineer" in r.json()["error"]["message"], r
    write_config(cfg, config_text(port, tags_v1() + [
        {"name": "added", "area": "holding", "address": 2, "type": "int16"}]))
    r = reload(engineer)
    assert r.status == 200 and r.json() == {"outcome": "ok"}, r
    tags = gw.tags()
    assert tags[f"{NS}/added"] is not None, "the reload is done when the answer comes"
    gw.wait_tags(lambda ts: ts.get(f"{NS}/added", {}).get("value") == -5678, what="added tag polled")

    good = open(cfg).read()
    write_config(cfg, good.replace("interval_ms: 100", "interval_ms: -5", 1))
    r = reload(engineer)
    assert r.status == 422 and r.json()["outcome"] == "refused", r
    assert f"{cfg}:" in r.json()["error"]["message"], r
    wait_updating(gw, f"{NS}/counter", "the running configuration keeps polling")

    db = sqlite3.connect(os.path.join(gw.data_dir, "audit.db"))
    rows = db.execute("SELECT actor, outcome, details FROM audit WHERE action = 'config_change'"
                      " ORDER BY id").fetchall()
    db.close()
    token_id = json.loads(e2e.http_get(gw.url("/api/v1/session"), token=engineer).body)["token_id"]
    actor = f"api-engineer (token {token_id})"
    assert [(a, o) for a, o, _ in rows] == [(actor, "ok"), (actor, "refused")], rows
    assert '+          - name: "added"' in rows[0][2], rows[0][2]
    rc, _ = gw.stop()
    assert rc == 0
    gw.assert_clean_stderr()

    demo = e2e.Airlock(procs, ["--sim-port-base", str(e2e.free_port_range(16))]).wait_ready()
    r = e2e.http_get(demo.url("/api/v1/reload"), method="POST", data=b"")
    assert r.status == 409, r
    demo.stop()
