"""`airlock run` with no configuration: the built-in demo plant (simulated
Modbus TCP devices on loopback) polled by the gateway. Within seconds every
tag is Good and values move; health, the tag routes, prefix filtering, 404s,
/metrics and the event stream behave as documented (docs/api.md); SIGTERM
and SIGINT stop it cleanly, with no sanitizer report."""

import json
import math
import signal
import time

import pytest

import airlock_e2e as e2e


def start_demo(group, name="demo"):
    base = e2e.free_port_range(16)
    a = e2e.Airlock(group, ["--sim-port-base", str(base)], name=name)
    a.sim_port_base = base
    a.wait_ready(30)
    return a


def all_good(ts):
    return ts and all(t["quality"] == "Good" for t in ts.values()) and ts


@pytest.fixture(scope="module")
def demo():
    """One demo gateway for the read-only checks of this module."""
    group = e2e.ProcessGroup()
    try:
        a = start_demo(group)
        a.first_tags = a.wait_tags(all_good, timeout_s=20, what="every demo tag Good")
        yield a
        assert a.proc.alive(), f"airlock died:\n{a.proc.stderr_tail()}"
        rc, _ = a.stop()
        assert rc == 0, f"exit status {rc}:\n{a.proc.stderr_tail()}"
        a.assert_clean_stderr()
    finally:
        group.close()


def snapshot_tags(data):
    """The tags of a snapshot event: docs/api.md gives it the shape of the
    /api/v1/tags body, {"tags": [...], "count": N}."""
    doc = json.loads(data)
    assert isinstance(doc, dict) and isinstance(doc.get("tags"), list), data[:300]
    assert doc["count"] == len(doc["tags"]), doc
    return doc["tags"]


def device_of(path):
    """The device part of a demo tag path: everything before the tag name."""
    return path.rsplit("/", 1)[0]


def test_every_demo_tag_is_good_with_a_value(demo):
    tags = demo.tags()
    assert len(tags) >= 12, f"the demo plant should have a fair number of tags: {len(tags)}"
    for p, t in tags.items():
        assert t["quality"] == "Good" and t["quality_code"] == 0, t
        assert t["value"] is not None, t
        assert t["type"] in ("bool", "int64", "uint64", "double", "string"), t
        assert isinstance(t["timestamp_ms"], int) and t["timestamp"], t
        assert 2 <= len(p.split("/")) <= 8, p
        if t["type"] == "double":
            assert isinstance(t["value"], (int, float)) and math.isfinite(t["value"]), t
        if t["type"] == "bool":
            assert isinstance(t["value"], bool), t
    body = demo.get_json("/api/v1/tags")
    assert body["count"] == len(body["tags"]) == len(tags)


DEMO_DEVICES = {"pump", "tank", "meter", "filler", "tt101", "tt102"}  # docs/demo-plant.md
PUMP = "acme/plant1/utilities/pumping/skid1"


def test_known_demo_tags(demo):
    """A few tags named in docs/demo-plant.md, with their units and ranges."""
    flow = demo.tag(f"{PUMP}/flow")
    assert flow["type"] == "double" and flow["unit"] == "m3/h", flow
    assert 0 <= flow["value"] <= 150, flow
    speed = demo.tag(f"{PUMP}/motor_speed")
    assert isinstance(speed["value"], int) and 0 <= speed["value"] <= 1800, speed
    assert isinstance(demo.tag(f"{PUMP}/running")["value"], bool)
    assert demo.tag(f"{PUMP}/serial_number")["type"] == "string"


def test_health_reports_every_device_connected(demo):
    h = demo.health()
    assert h["status"] == "ok", h
    assert {d["name"] for d in h["devices"]} == DEMO_DEVICES, h["devices"]
    for d in h["devices"]:
        assert d["state"] == "connected", d
        assert d["name"] and "last_error" in d, d
    assert h["tags"] == len(demo.tags())
    for k in ("samples_sent", "samples_dropped", "queued"):
        assert k in h["boundary"], h["boundary"]
    assert h["boundary"]["samples_sent"] > 0
    assert h["boundary"]["samples_dropped"] == 0, h["boundary"]


def test_values_change_over_time(demo):
    first = {p: t["value"] for p, t in demo.tags().items()}

    def changed():
        now = demo.tags()
        return [p for p, t in now.items() if t["value"] != first[p]]

    def changed_on_three_devices():
        c = changed()
        return len({device_of(p) for p in c}) >= 3 and c

    moved = e2e.wait_until(changed_on_three_devices, timeout_s=15,
                           what="values changing on at least 3 devices")
    assert len(moved) >= 5, moved


def test_every_device_is_polled_again(demo):
    """Each device's poll counter grows and at least one of its tags gets a
    newer timestamp (tags with a deadband or in slow groups may not)."""
    first = {p: t["timestamp_ms"] for p, t in demo.tags().items()}
    devices = [d["name"] for d in demo.health()["devices"]]
    polls0 = {d: e2e.metric_values(demo.metrics(), "airlock_polls_total", device=d)[0]
              for d in devices}
    e2e.wait_until(
        lambda: all(e2e.metric_values(demo.metrics(), "airlock_polls_total", device=d)[0] > polls0[d]
                    for d in devices),
        timeout_s=15, what="every device's airlock_polls_total growing",
    )
    groups = {device_of(p) for p in first}

    def advanced():
        now = demo.tags()
        return {device_of(p) for p, t in now.items() if t["timestamp_ms"] > first[p]}

    e2e.wait_until(lambda: advanced() == groups, timeout_s=15,
                   what="a newer timestamp on every device")


def test_single_tag_route_and_404(demo):
    path = sorted(demo.tags())[0]
    one = demo.tag(path)
    assert one["path"] == path and one["quality"] == "Good", one
    encoded = demo.get_json("/api/v1/tags/" + path.replace("/", "%2F"))
    assert encoded["path"] == path, "the path may also be URL-encoded (docs/api.md)"
    for missing in ("acme/nowhere/none/no/such/tag", path + "x", path + "/deeper"):
        r = demo.get("/api/v1/tags/" + missing)
        assert r.status == 404, (missing, r)
        assert r.header("Content-Type").startswith("application/json")
        err = r.json()["error"]
        assert isinstance(err, dict) and err["message"], err


def test_prefix_filter(demo):
    tags = demo.tags()
    dev_prefix = device_of(sorted(tags)[0])
    expected = {p for p in tags if p.startswith(dev_prefix + "/")}
    for q in (dev_prefix, dev_prefix + "/"):
        got = demo.tags(prefix=q)
        assert set(got) == expected, f"prefix {q}: {sorted(got)} vs {sorted(expected)}"
    top = sorted(tags)[0].split("/")[0]
    assert set(demo.tags(prefix=top)) == {p for p in tags if p.split("/")[0] == top}
    assert demo.tags(prefix="no/such/prefix") == {}
    # A prefix matches whole segments only.
    partial = dev_prefix[:-1]
    if not any(p.startswith(partial + "/") for p in tags):
        assert demo.tags(prefix=partial) == {}, f"prefix {partial} must not match {dev_prefix}"
    r = demo.get("/api/v1/tags?prefix=bad//prefix")
    assert r.status == 400 and "error" in r.json(), r


def test_metrics(demo):
    r = demo.get("/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.header("Content-Type")
    text = r.text()
    samples = e2e.parse_metrics(text)  # every line parses
    assert samples
    devices = [d["name"] for d in demo.health()["devices"]]
    for d in devices:
        for family in ("airlock_polls_total", "airlock_requests_total",
                       "airlock_request_errors_total", "airlock_modbus_exceptions_total",
                       "airlock_values_per_second"):
            v = e2e.metric_values(text, family, device=d)
            assert len(v) == 1, f"{family}{{device={d}}}: {v}"
        assert e2e.metric_values(text, "airlock_polls_total", device=d)[0] > 0
        assert e2e.metric_values(text, "airlock_requests_total", device=d)[0] > 0
        # The latency histogram: cumulative buckets ending in +Inf == count.
        buckets = [(ls["le"], v) for n, ls, v in samples
                   if n == "airlock_poll_latency_seconds_bucket" and ls.get("device") == d]
        assert buckets and buckets[-1][0] == "+Inf", buckets
        values = [v for _, v in buckets]
        assert values == sorted(values), f"buckets must be cumulative: {buckets}"
        count = e2e.metric_values(text, "airlock_poll_latency_seconds_count", device=d)
        assert count and count[0] == values[-1] > 0, (count, buckets)
        assert e2e.metric_values(text, "airlock_poll_latency_seconds_sum", device=d)
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            assert line.split()[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
    # values/s becomes positive once the sampler has two points (1 s apart).
    e2e.wait_until(
        lambda: sum(e2e.metric_values(demo.metrics(), "airlock_values_per_second")) > 0,
        timeout_s=10, what="airlock_values_per_second > 0",
    )


def test_event_stream_snapshot_then_updates(demo):
    tags = demo.tags()
    sse = e2e.SseClient(demo.url("/api/v1/stream"))
    try:
        assert sse.status == 200
        assert sse.headers.get("content-type", "").startswith("text/event-stream")
        name, data = sse.next_event(10)
        assert name == "snapshot", (name, data[:200])
        snap = snapshot_tags(data)
        assert {t["path"] for t in snap} == set(tags)
        assert all("value" in t and "quality" in t for t in snap)
        updated = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(updated) < 3:
            name, data = sse.next_event(10)
            assert name in ("update", "snapshot"), name
            if name == "update":
                batch = json.loads(data)
                assert isinstance(batch, list) and batch, data[:200]
                for t in batch:
                    assert t["path"] in tags and "value" in t and "quality" in t, t
                    updated.add(t["path"])
        assert len(updated) >= 3, f"updates seen for {sorted(updated)}"
    finally:
        sse.close()


def test_event_stream_prefix(demo):
    tags = demo.tags()
    dev_prefix = device_of(sorted(tags)[0])
    sse = e2e.SseClient(demo.url("/api/v1/stream?prefix=" + dev_prefix))
    try:
        name, data = sse.next_event(10)
        assert name == "snapshot"
        paths = {t["path"] for t in snapshot_tags(data)}
        assert paths == {p for p in tags if p.startswith(dev_prefix + "/")}
        for _ in range(3):
            name, data = sse.next_event(10)
            batch = json.loads(data) if name == "update" else snapshot_tags(data)
            assert all(t["path"].startswith(dev_prefix + "/") for t in batch), (name, data[:300])
    finally:
        sse.close()


def test_dashboard_is_served(demo):
    r = demo.get("/")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/html")
    assert b"<html" in r.body.lower() or b"<!doctype" in r.body.lower()
    for asset in ("/index.html", "/app.js", "/style.css", "/favicon.svg"):
        a = demo.get(asset)
        assert a.status == 200 and a.body, asset
        assert a.header("Content-Security-Policy") == "default-src 'self'", asset


def test_head_on_every_route(demo):
    path = sorted(demo.tags())[0]
    for route in ("/api/v1/health", "/api/v1/tags", "/api/v1/tags/" + path, "/metrics", "/",
                  "/api/v1/stream"):
        r = e2e.http_get(demo.url(route), method="HEAD")
        assert r.status == 200 and r.body == b"", (route, r)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(procs, sig):
    gw = start_demo(procs, name="demo-" + signal.Signals(sig).name)
    gw.wait_tags(all_good, timeout_s=20, what="demo tags Good")
    # An open event stream must not hold the shutdown up.
    sse = e2e.SseClient(gw.url("/api/v1/stream"))
    try:
        sse.next_event(10)
        rc, elapsed = gw.stop(sig, timeout_s=3.0)
    finally:
        sse.close()
    assert rc is not None, f"still running 3 s after {signal.Signals(sig).name}"
    assert rc == 0, f"exit status {rc} after {signal.Signals(sig).name}:\n{gw.proc.stderr_tail()}"
    gw.assert_clean_stderr()
    assert not e2e.port_is_listening(gw.http_port)
    assert not e2e.port_is_listening(gw.sim_port_base), "the demo plant's ports are closed too"
    log = gw.stderr()
    assert "level=info module=gateway" in log and "stopped" in log
