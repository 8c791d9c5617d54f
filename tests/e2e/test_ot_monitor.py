"""The OT monitor end to end (docs/monitoring.md): `airlock sim` serves the
pump with one device identification (Modbus 43/14), the gateway polls it
with a short learning period and records that identity in
<data_dir>/ot-baseline.json; the simulator is restarted with another
identity and an identity_changed alert (critical, with both identities)
appears in GET /api/v1/alerts and in `airlock audit list`; the recorded
identity coming back clears it; a gateway restarted on the same data
directory still knows the recorded identity. The alerts route's filters and
errors are checked on the way."""

import json
import os
import signal
import urllib.parse

import pytest

import airlock_e2e as e2e

FIRST = ("ACME Pumps", "P-100", "1.0")
SECOND = ("Evil Corp", "P-100", "6.6")


def identity_text(ident):
    vendor, product, revision = ident
    return f"VendorName={vendor}; ProductCode={product}; MajorMinorRevision={revision}"


def start_sim(group, port_base, ident, name="sim"):
    arg = "pump=" + ",".join(ident)
    proc = group.start(
        [e2e.airlock_bin(), "sim", "--port-base", str(port_base), "--identity", arg], name
    )
    e2e.wait_until(lambda: e2e.port_is_listening(port_base), timeout_s=15,
                   what=f"the simulator on port {port_base}")
    return proc


def stop_proc(proc):
    proc.signal(signal.SIGTERM)
    assert proc.wait(5) == 0, proc.stderr_tail()


def config_text(port_base, data_dir):
    pump = e2e.modbus_device(
        "pump", port_base,
        tags=[{"name": "motor_current", "area": "input", "address": 0, "type": "uint16"}],
        interval_ms=200,
    )
    return (e2e.gateway_config([pump], data_dir=data_dir)
            + "monitor:\n  learning_s: 2\n  window_s: 1\n")


def alerts(gw, query=""):
    return gw.get_json("/api/v1/alerts" + query)


def identity_alert(gw, active_only=True):
    q = "?kind=identity_changed&subject=pump" + ("&active=1" if active_only else "")
    found = alerts(gw, q)["alerts"]
    return found[0] if found else None


def state_identity(data_dir):
    with open(os.path.join(data_dir, "ot-baseline.json")) as f:
        return json.load(f)["devices"]["pump"]["identity"]


@pytest.fixture
def group():
    g = e2e.ProcessGroup()
    try:
        yield g
    finally:
        g.close()


def test_identity_change_raises_and_clears(group):
    port_base = e2e.free_port_range(6)  # the simulator serves six devices
    data_dir = group.temp_dir("airlock-monitor-data-")
    cfg = e2e.write_file(group.temp_dir("airlock-monitor-cfg-"), "gw.yaml",
                         config_text(port_base, data_dir))
    sim = start_sim(group, port_base, FIRST)
    gw = e2e.Airlock(group, ["-c", cfg, "--data", data_dir], name="gateway").wait_ready()

    # The first identity is recorded (trust on first use), without an alert.
    e2e.wait_until(lambda: state_identity(data_dir) == identity_text(FIRST), timeout_s=15,
                   what="the pump's identity in ot-baseline.json")
    body = alerts(gw)
    assert body["count"] == len(body["alerts"]) and body["active"] >= 0, body
    assert identity_alert(gw, active_only=False) is None, body

    # The route: viewer role, parameters checked.
    assert e2e.http_get(gw.url("/api/v1/alerts"), token=None).status == 401
    for bad in ("?active=maybe", "?kind=nope", "?limit=0", "?limit=100000", "?since=yesterday"):
        r = gw.get("/api/v1/alerts" + bad)
        assert r.status == 400, (bad, r.status, r.body[:200])
        assert "invalid query parameter" in r.json()["error"]["message"], r.body

    # Another device answers on the pump's address.
    stop_proc(sim)
    sim = start_sim(group, port_base, SECOND, name="sim-2")
    al = e2e.wait_until(lambda: identity_alert(gw), timeout_s=20,
                        what="an active identity_changed alert for the pump")
    assert al["severity"] == "critical" and al["active"] and al["cleared"] is None, al
    assert identity_text(FIRST) in al["message"] and identity_text(SECOND) in al["message"], al
    assert al["raised"] and al["count"] >= 1, al
    # The record is not replaced by what answers now.
    assert state_identity(data_dir) == identity_text(FIRST)
    # Filters: since in the future finds nothing; the default list has it.
    assert alerts(gw, "?since=now%2B1h")["count"] == 0
    assert any(a["id"] == al["id"] for a in alerts(gw)["alerts"])

    # In the audit trail, with both identities.
    out = e2e.run_airlock(["audit", "list", "--data", data_dir, "--action", "alert"])
    assert out.returncode == 0, out.stderr
    assert "identity_changed/pump" in out.stdout and "raised" in out.stdout, out.stdout
    csv = e2e.run_airlock(["audit", "export", "--data", data_dir, "--csv", "-"])
    assert identity_text(SECOND) in csv.stdout and identity_text(FIRST) in csv.stdout, csv.stdout

    # The recorded device is back: the alert clears.
    stop_proc(sim)
    sim = start_sim(group, port_base, FIRST, name="sim-3")
    e2e.wait_until(lambda: identity_alert(gw) is None, timeout_s=20,
                   what="the identity_changed alert cleared")
    cleared = identity_alert(gw, active_only=False)
    assert cleared and not cleared["active"] and cleared["cleared"], cleared
    out = e2e.run_airlock(["audit", "list", "--data", data_dir, "--action", "alert"])
    assert "cleared" in out.stdout, out.stdout

    rc, _ = gw.stop()
    assert rc == 0, gw.proc.stderr_tail()
    gw.assert_clean_stderr()

    # A restart keeps the record: the other device is noticed at once.
    stop_proc(sim)
    sim = start_sim(group, port_base, SECOND, name="sim-4")
    gw2 = e2e.Airlock(group, ["-c", cfg, "--data", data_dir], name="gateway-2").wait_ready()
    al = e2e.wait_until(lambda: identity_alert(gw2), timeout_s=20,
                        what="identity_changed after the gateway's restart")
    assert identity_text(FIRST) in al["message"], al

    # Deleting the state file accepts what answers now (docs/monitoring.md).
    os.unlink(os.path.join(data_dir, "ot-baseline.json"))
    e2e.wait_until(lambda: identity_alert(gw2) is None, timeout_s=15,
                   what="the alert cleared after the state file was deleted")
    e2e.wait_until(lambda: state_identity(data_dir) == identity_text(SECOND), timeout_s=15,
                   what="the new identity recorded")
    rc, _ = gw2.stop()
    assert rc == 0, gw2.proc.stderr_tail()
    gw2.assert_clean_stderr()
    stop_proc(sim)


def test_device_without_identification(group):
    """A device that answers IllegalFunction to 43/14 has no identity: it is
    polled as usual and raises nothing."""
    port_base = e2e.free_port_range(6)  # the simulator serves six devices
    data_dir = group.temp_dir("airlock-monitor-data-")
    cfg = e2e.write_file(group.temp_dir("airlock-monitor-cfg-"), "gw.yaml",
                         config_text(port_base, data_dir))
    proc = group.start([e2e.airlock_bin(), "sim", "--port-base", str(port_base),
                        "--identity", "pump="], "sim")
    e2e.wait_until(lambda: e2e.port_is_listening(port_base), timeout_s=15, what="simulator")
    gw = e2e.Airlock(group, ["-c", cfg, "--data", data_dir], name="gateway").wait_ready()
    gw.wait_tags(lambda ts: ts and all(t["quality"] == "Good" for t in ts.values()),
                 timeout_s=15, what="the pump's tag Good")
    e2e.wait_until(lambda: os.path.exists(os.path.join(data_dir, "ot-baseline.json")),
                   timeout_s=15, what="the state file")
    assert state_identity(data_dir) == ""
    kinds = {a["kind"] for a in alerts(gw)["alerts"]}
    assert not kinds & {"identity_changed", "unknown_identity"}, kinds
    rc, _ = gw.stop()
    assert rc == 0
    gw.assert_clean_stderr()
    stop_proc(proc)
