"""The embedded historian seen from outside: a gateway polls a pymodbus peer
serving known values; GET /api/v1/history must return them (raw, with Good
quality and increasing times; aggregates that match the raw samples; CSV),
refuse bad parameters with 400/404 JSON errors, report itself in
/api/v1/health and /metrics, keep the history across a restart on the same
data directory, and `airlock query` / `airlock export` must print the same
data once the gateway has stopped (and refuse while it runs)."""

import csv
import datetime
import io
import json
import os
import time
import urllib.parse

import airlock_e2e as e2e

NS = "e2e/site/area/line/plc"
FIXED = f"{NS}/fixed"
TEMP = f"{NS}/temp"
COUNTER = f"{NS}/counter"
FLAG = f"{NS}/flag"


def start_peer(procs, tmp_path):
    port = e2e.free_port()
    spec = {
        "size": 100,
        "points": [
            {"unit": 1, "area": "holding", "address": 1, "type": "uint16", "value": 1234},
            {"unit": 1, "area": "holding", "address": 2, "type": "float32", "value": 21.5},
            {"unit": 1, "area": "coil", "address": 3, "value": True},
        ],
        "counters": [{"unit": 1, "area": "holding", "address": 0, "period_ms": 100}],
    }
    e2e.start_modbus_peer(procs, port, spec, tmpdir=str(tmp_path))
    return port


def write_config(tmp_path, port):
    tags = [
        {"name": "counter", "area": "holding", "address": 0, "type": "uint16"},
        {"name": "fixed", "area": "holding", "address": 1, "type": "uint16"},
        {"name": "temp", "area": "holding", "address": 2, "type": "float32", "unit": "degC"},
        {"name": "flag", "area": "coil", "address": 3, "type": "bool"},
    ]
    text = e2e.gateway_config([e2e.modbus_device("plc", port, tags, interval_ms=100)])
    text += "history:\n  durability: batched\n  fsync_interval_ms: 200\n"
    return e2e.write_file(tmp_path, "gateway.yaml", text)


def q(params):
    return "/api/v1/history?" + urllib.parse.urlencode(params)


def iso_ms(ms):
    """Epoch ms -> RFC 3339 UTC with ms, as the API writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def ms_of(iso):
    """RFC 3339 UTC with ms (as the API writes it) -> epoch ms."""
    stamp = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


def raw(gw, tag, frm, to, **extra):
    body = gw.get_json(q({"tag": tag, "from": frm, "to": to, **extra}))
    assert body["tag"] == tag
    return body


def assert_error(gw, path, status, needle):
    r = gw.get(path)
    assert r.status == status, f"GET {path}: expected {status}, got {r.status}: {r.body[:300]!r}"
    assert r.header("Content-Type") == "application/json"
    err = r.json()["error"]
    assert err["code"] == status
    assert needle in err["message"], f"GET {path}: {err['message']!r} lacks {needle!r}"


def wait_history(gw, tag, frm, n):
    """Waits until tag has at least n samples since frm (epoch ms)."""
    holder = {}

    def enough():
        holder["b"] = gw.get_json(q({"tag": tag, "from": frm}))
        return holder["b"]["count"] >= n

    e2e.wait_until(enough, timeout_s=20, what=f"{n} samples of {tag} in history")
    return holder["b"]


def check_raw(gw, t0, t1):
    fixed = raw(gw, FIXED, t0, t1)
    assert fixed["type"] == "uint64" and fixed["truncated"] is False
    samples = fixed["samples"]
    assert fixed["count"] == len(samples) >= 10
    assert all(s["v"] == 1234 and s["q"] == "Good" for s in samples), samples[:5]
    times = [s["t"] for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times), "times must increase"
    assert all(t.endswith("Z") and len(t) == 24 for t in times)

    temp = raw(gw, TEMP, t0, t1)
    assert temp["type"] == "double" and temp["unit"] == "degC"
    assert temp["count"] >= 10 and all(s["v"] == 21.5 for s in temp["samples"])
    flag = raw(gw, FLAG, t0, t1)
    assert flag["type"] == "bool" and all(s["v"] is True for s in flag["samples"])

    counter = raw(gw, COUNTER, t0, t1)
    values = [s["v"] for s in counter["samples"]]
    assert len(values) >= 10 and values == sorted(values), "the peer's counter only grows"
    assert values[-1] > values[0]

    limited = raw(gw, FIXED, t0, t1, limit=3)
    assert limited["count"] == 3 and limited["truncated"] is True
    assert limited["samples"] == samples[:3]
    return counter


def check_aggregates(gw, counter, t0, t1):
    values = [s["v"] for s in counter["samples"]]
    one = gw.get_json(q({"tag": COUNTER, "from": t0, "to": t1, "agg": "count"}))
    assert one["agg"] == "count" and len(one["buckets"]) == 1
    assert one["buckets"][0]["count"] == len(values) and one["buckets"][0]["quality"] == "Good"
    for kind, want in (("min", min(values)), ("max", max(values)),
                       ("avg", sum(values) / len(values)), ("sum", sum(values))):
        b = gw.get_json(q({"tag": COUNTER, "from": t0, "to": t1, "agg": kind}))["buckets"][0]
        assert abs(b["v"] - want) < 1e-9 * max(1, abs(want)), f"{kind}: {b['v']} != {want}"
        assert b["good"] == len(values) and b["bad"] == 0

    # Buckets of 1 s: counts add up to the raw count; each bucket's min/max
    # bound the raw values inside it.
    per_s = gw.get_json(q({"tag": COUNTER, "from": t0, "to": t1, "agg": "max", "every": "1s"}))
    assert per_s["every_ms"] == 1000
    buckets = per_s["buckets"]
    assert len(buckets) == -(-(t1 - t0) // 1000)
    assert sum(b["count"] for b in buckets) == len(values)
    for b in buckets:
        if b["count"] == 0:
            assert b["v"] is None and b["quality"] == "Bad_NoData"

    # CSV: by format= and by Accept; same rows as JSON.
    r = gw.get(q({"tag": COUNTER, "from": t0, "to": t1, "format": "csv"}))
    assert r.status == 200 and r.header("Content-Type").startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text())))
    assert rows[0] == ["time", "value", "quality"]
    assert [(row[0], int(row[1]), row[2]) for row in rows[1:]] == [
        (s["t"], s["v"], s["q"]) for s in counter["samples"]
    ]
    r = e2e.http_get(gw.url(q({"tag": COUNTER, "from": t0, "to": t1, "agg": "avg", "every": "1s"})))
    assert r.header("Content-Type") == "application/json"
    resp = e2e.http_get(
        gw.url(q({"tag": COUNTER, "from": t0, "to": t1, "agg": "avg", "every": "1s"})),
        headers={"Accept": "text/csv"},
    )
    assert resp.status == 200, resp
    text = resp.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["time", "value", "count", "quality"]
    assert len(rows) - 1 == len(buckets)
    assert sum(int(row[2]) for row in rows[1:]) == len(values)

    # The value at a time: the previous sample (times are shown to the ms and
    # stored to the ns, so ask 1 ms after the one shown).
    mid = counter["samples"][len(values) // 2]
    t_ms = ms_of(mid["t"]) + 1
    at = gw.get_json("/api/v1/history/at?" + urllib.parse.urlencode({"tag": COUNTER, "t": t_ms}))
    assert at["value"] == mid["v"] and at["timestamp"] == mid["t"] and at["quality"] == "Good"


def check_errors(gw):
    assert_error(gw, "/api/v1/history", 400, "missing query parameter 'tag'")
    assert_error(gw, q({"tag": f"{NS}/nope"}), 404, "no history for tag")
    assert_error(gw, q({"tag": FIXED, "from": "last tuesday"}), 400,
                 "invalid query parameter 'from': expected an RFC 3339 time")
    assert_error(gw, q({"tag": FIXED, "to": "2026-13-01T00:00:00Z"}), 400,
                 "invalid query parameter 'to'")
    assert_error(gw, q({"tag": FIXED, "from": "now", "to": "now-1h"}), 400,
                 "'to' must be after 'from'")
    assert_error(gw, q({"tag": FIXED, "agg": "median"}), 400, "invalid query parameter 'agg'")
    assert_error(gw, q({"tag": FIXED, "agg": "avg", "every": "soon"}), 400,
                 "invalid query parameter 'every'")
    assert_error(gw, q({"tag": FIXED, "limit": "0"}), 400, "invalid query parameter 'limit'")
    assert_error(gw, q({"tag": FIXED, "from": "0", "agg": "avg", "every": "1s"}), 400,
                 "too many buckets")


def check_health_and_metrics(gw):
    h = gw.health()["history"]
    assert h["status"] == "ok" and h["last_error"] is None
    assert h["samples_accepted"] > 0 and h["rejected_late"] == 0
    assert h["bytes_on_disk"] > 0
    m = gw.metrics()
    assert e2e.metric_values(m, "airlock_history_samples_accepted_total")[0] > 0
    assert e2e.metric_values(m, "airlock_history_degraded") == [0.0]
    assert e2e.metric_values(m, "airlock_history_samples_rejected_total", reason="late") == [0.0]


def test_history_api_restart_and_cli(procs, start_airlock, tmp_path):
    port = start_peer(procs, tmp_path)
    cfg = write_config(tmp_path, port)
    data = procs.temp_dir("airlock-e2e-hist-")
    gw = start_airlock(["-c", cfg, "--data", data])
    start_ms = int(time.time() * 1000)
    gw.wait_tags(lambda ts: ts[FIXED]["quality"] == "Good" and ts[COUNTER]["quality"] == "Good",
                 what="tags Good")
    wait_history(gw, FIXED, start_ms - 5000, 15)
    t1 = int(time.time() * 1000) - 300  # in the past: the range no longer changes
    t0 = t1 - 60000

    counter = check_raw(gw, t0, t1)
    check_aggregates(gw, counter, t0, t1)
    check_errors(gw)
    check_health_and_metrics(gw)
    before = {tag: raw(gw, tag, t0, t1)["samples"] for tag in (FIXED, TEMP, COUNTER, FLAG)}

    # The store is locked while the gateway runs.
    r = e2e.run_airlock(["query", "--data", data, "--tag", FIXED])
    assert r.returncode == 1 and "in use" in r.stderr, r.stderr

    rc, _ = gw.stop()
    assert rc == 0, gw.proc.stderr_tail()

    # query and export on the stopped store print what the API served.
    r = e2e.run_airlock(["query", "--data", data, "--tag", COUNTER, "--from", str(t0),
                         "--to", str(t1), "--format", "csv"])
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["time", "value", "quality"]
    assert [(row[0], int(row[1]), row[2]) for row in rows[1:]] == [
        (s["t"], s["v"], s["q"]) for s in before[COUNTER]
    ]
    r = e2e.run_airlock(["query", "--data", data, "--tag", TEMP, "--from", iso_ms(t0),
                         "--to", iso_ms(t1), "--format", "json", "--agg", "max"])
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["buckets"][0]["v"] == 21.5 and body["buckets"][0]["count"] == len(before[TEMP])
    r = e2e.run_airlock(["query", "--data", data, "--tag", FIXED, "--from", str(t0),
                         "--to", str(t1)])
    assert r.returncode == 0 and "1234" in r.stdout and "Good" in r.stdout

    out = os.path.join(str(tmp_path), "export.csv")
    r = e2e.run_airlock(["export", "--data", data, "--prefix", NS, "--from", str(t0),
                         "--to", str(t1), "-o", out])
    assert r.returncode == 0, r.stderr
    assert "4 tags" in r.stderr and "rows written" in r.stderr  # not a terminal: a summary
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time", "tag", "value", "quality"]
    by_tag = {}
    for row in rows[1:]:
        by_tag.setdefault(row[1], []).append(row)
    assert sorted(by_tag) == sorted([FIXED, TEMP, COUNTER, FLAG])
    for tag in by_tag:
        assert [row[0] for row in by_tag[tag]] == [s["t"] for s in before[tag]]
    assert {row[2] for row in by_tag[FIXED]} == {"1234"}
    assert {row[2] for row in by_tag[FLAG]} == {"true"}

    r = e2e.run_airlock(["export", "--data", data, "--tag", TEMP, "--from", str(t0),
                         "--to", str(t1), "--agg", "avg", "--every", "10s"])
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["time", "tag", "value", "count", "quality"] and len(rows) == 7
    assert all(row[2] in ("21.5", "") for row in rows[1:])

    # Usage errors name the option; exit 2.
    r = e2e.run_airlock(["query", "--data", data])
    assert r.returncode == 2 and "--tag" in r.stderr
    r = e2e.run_airlock(["query", "--data", data, "--tag", FIXED, "--from", "soon"])
    assert r.returncode == 2 and "--from" in r.stderr
    r = e2e.run_airlock(["export", "--data", data, "--from", "now-1h"])
    assert r.returncode == 2 and "--to" in r.stderr
    r = e2e.run_airlock(["query", "--help"])
    assert r.returncode == 0 and "--tag PATH" in r.stdout
    r = e2e.run_airlock(["query", "--data", data, "--tag", f"{NS}/nope"])
    assert r.returncode == 1 and "no history for tag" in r.stderr

    # Restart on the same data directory: the history is still there.
    gw2 = start_airlock(["-c", cfg, "--data", data])
    for tag, samples in before.items():
        assert raw(gw2, tag, t0, t1)["samples"] == samples, f"{tag} changed across the restart"
    after_ms = int(time.time() * 1000)
    wait_history(gw2, FIXED, after_ms, 3)  # and new samples keep coming
    assert gw2.health()["history"]["status"] == "ok"

    # A second gateway on the same data directory refuses to start, naming it.
    gw3 = start_airlock(["-c", cfg, "--data", data], wait=False)
    e2e.wait_until(lambda: not gw3.proc.alive(), timeout_s=15, what="second gateway exits")
    assert gw3.proc.returncode() == 1
    err = gw3.stderr()
    assert "cannot open the history store in" in err and "in use" in err, err[-2000:]
    assert os.path.join(data, "history") in err
    gw2.assert_alive()
