"""Modbus failures against real peers: a device that disappears and comes
back, exception responses, malformed frames, a device that never answers
next to a healthy one, and the simulator's scheduled faults. The gateway must
mark the affected tags with the right quality, stamp them with the failure
time, keep the last value, recover by itself, and never let one device delay
another."""

import re
import time

import airlock_e2e as e2e

NOT_CONNECTED_QUALITIES = {"Bad_NoCommunication", "Bad_Timeout", "Bad_CommunicationError"}


def now_ms():
    return int(time.time() * 1000)


def counter_peer(procs, tmp_path, port, name="peer"):
    """A pymodbus device whose holding register 0 counts up every 100 ms and
    register 1 holds 1234."""
    spec = {
        "size": 100,
        "points": [{"unit": 1, "area": "holding", "address": 1, "type": "uint16", "value": 1234}],
        "counters": [{"unit": 1, "area": "holding", "address": 0, "period_ms": 100}],
    }
    return e2e.start_modbus_peer(procs, port, spec, name=name, tmpdir=str(tmp_path))


COUNTER_TAGS = [
    {"name": "counter", "area": "holding", "address": 0, "type": "uint16"},
    {"name": "fixed", "area": "holding", "address": 1, "type": "uint16"},
]


def ns(device):
    return f"e2e/site/area/line/{device}"


# ------------------------------------------------------------------ (a)


def test_device_disconnects_and_comes_back(procs, start_airlock, tmp_path):
    port = e2e.free_port()
    peer = counter_peer(procs, tmp_path, port)
    dev = e2e.modbus_device("flaky", port, COUNTER_TAGS, interval_ms=100, timeout_ms=300,
                            backoff_initial_ms=200, backoff_max_ms=800)
    cfg = e2e.write_file(tmp_path, "flaky.yaml", e2e.gateway_config([dev]))
    gw = start_airlock(["-c", cfg])
    counter, fixed = f"{ns('flaky')}/counter", f"{ns('flaky')}/fixed"

    gw.wait_tags(lambda ts: ts[fixed]["quality"] == "Good" and ts[fixed]["value"] == 1234,
                 what="flaky device Good")
    assert gw.device_health("flaky")["state"] == "connected"

    # The device disappears.
    killed_ms = now_ms()
    peer.kill()
    tags = gw.wait_tags(
        lambda ts: ts[fixed]["quality"] in NOT_CONNECTED_QUALITIES
        and ts[counter]["quality"] in NOT_CONNECTED_QUALITIES,
        timeout_s=10,
        what="tags of the vanished device Bad",
    )
    seen_ms = now_ms()
    for p in (fixed, counter):
        ts_ms = tags[p]["timestamp_ms"]
        assert ts_ms is not None and killed_ms - 50 <= ts_ms <= seen_ms + 50, (
            f"{p}: a Bad sample must carry the failure time (killed at {killed_ms},"
            f" seen at {seen_ms}), got {ts_ms}"
        )
    assert tags[fixed]["value"] == 1234, "the last good value must be kept with a Bad quality"
    health = gw.health()
    flaky = [d for d in health["devices"] if d["name"] == "flaky"][0]
    assert flaky["state"] != "connected", flaky
    assert flaky["last_error"], flaky
    assert health["status"] != "ok", health

    # The device comes back on the same port: recovery is automatic.
    counter_peer(procs, tmp_path, port, name="peer-again")
    tags = gw.wait_tags(
        lambda ts: ts[fixed]["quality"] == "Good" and ts[counter]["quality"] == "Good",
        timeout_s=15,
        what="tags Good again after the device came back",
    )
    e2e.wait_until(lambda: gw.device_health("flaky")["state"] == "connected",
                   what="device state connected again")
    e2e.wait_until(lambda: gw.health()["status"] == "ok", what="health ok again")
    # And values move again.
    first = gw.tag(counter)["value"]
    e2e.wait_until(lambda: gw.tag(counter)["value"] != first, what="counter changes again")
    rc, _ = gw.stop()
    assert rc == 0


# ------------------------------------------------------------------ (b)


def test_exception_responses_mark_only_the_bad_tags(procs, start_airlock, tmp_path):
    port = e2e.free_port()
    spec = {
        "size": 100,  # addresses 100 and up are not mapped: IllegalDataAddress
        "points": [{"unit": 1, "area": "holding", "address": 5, "type": "int16", "value": -5}],
    }
    e2e.start_modbus_peer(procs, port, spec, tmpdir=str(tmp_path))
    tags = [
        {"name": "good", "area": "holding", "address": 5, "type": "int16"},
        {"name": "unmapped_holding", "area": "holding", "address": 500, "type": "uint16"},
        {"name": "unmapped_input", "area": "input", "address": 700, "type": "float32"},
        {"name": "unmapped_coil", "area": "coil", "address": 900, "type": "bool"},
    ]
    dev = e2e.modbus_device("partial", port, tags, interval_ms=150)
    cfg = e2e.write_file(tmp_path, "partial.yaml", e2e.gateway_config([dev]))
    gw = start_airlock(["-c", cfg])
    p = ns("partial")
    bad = [f"{p}/unmapped_holding", f"{p}/unmapped_input", f"{p}/unmapped_coil"]
    got = gw.wait_tags(
        lambda ts: ts[f"{p}/good"]["quality"] == "Good"
        and all(ts[b]["quality"] != "Bad_WaitingForInitialData" for b in bad),
        what="every tag read once",
    )
    assert got[f"{p}/good"]["value"] == -5
    for b in bad:
        assert got[b]["quality"] == "Bad_ConfigurationError", f"{b}: {got[b]}"
        assert got[b]["timestamp_ms"] is not None, got[b]

    dev_health = gw.device_health("partial")
    assert "IllegalDataAddress" in (dev_health["last_error"] or ""), dev_health
    assert "IllegalDataAddress" in gw.stderr(), "the log must name the exception"
    m = gw.metrics()
    exceptions = e2e.metric_values(m, "airlock_modbus_exceptions_total", device="partial")
    assert exceptions and exceptions[0] > 0, "airlock_modbus_exceptions_total{device=partial} > 0"
    errors = e2e.metric_values(m, "airlock_request_errors_total", device="partial")
    assert errors and errors[0] >= exceptions[0]
    # The device answered: the good tag keeps updating.
    t0 = gw.tag(f"{p}/good")["timestamp_ms"]
    e2e.wait_until(lambda: gw.tag(f"{p}/good")["timestamp_ms"] > t0,
                   what="the good tag keeps being polled")
    rc, _ = gw.stop()
    assert rc == 0


# ------------------------------------------------------------------ (c)

MALFORMED_MODES = {
    # mode of peers/raw_peer.py: qualities accepted
    "wrong-tid": {"Bad_CommunicationError"},
    "wrong-length": {"Bad_CommunicationError"},
    "wrong-function": {"Bad_CommunicationError"},
    "garbage": {"Bad_CommunicationError"},
    # Unframed noise may leave the client waiting for the rest of a frame.
    "noise": {"Bad_CommunicationError", "Bad_Timeout"},
    "mixed": {"Bad_CommunicationError", "Bad_Timeout"},
}

RAW_TAGS = [
    {"name": "reg", "area": "holding", "address": 10, "type": "uint16"},
    {"name": "pair", "area": "holding", "address": 11, "type": "uint32"},
]


def start_raw_devices(procs, start_airlock, tmp_path, modes):
    """One raw peer and one device per mode (plus a well-behaved "valid"
    one), a gateway polling them all; waits until each was polled once."""
    devices = []
    for mode in list(modes) + ["valid"]:
        port = e2e.free_port()
        e2e.start_raw_peer(procs, port, mode, name=f"raw-{mode}")
        devices.append(
            e2e.modbus_device("dev-" + mode, port, RAW_TAGS, interval_ms=200, timeout_ms=300)
        )
    cfg = e2e.write_file(tmp_path, "raw.yaml", e2e.gateway_config(devices))
    gw = start_airlock(["-c", cfg])

    def all_read(ts):
        return all(
            ts[f"{ns('dev-' + m)}/{t['name']}"]["quality"] != "Bad_WaitingForInitialData"
            for m in list(modes) + ["valid"]
            for t in RAW_TAGS
        )

    tags = gw.wait_tags(all_read, timeout_s=15, what="every device polled once")
    # The well-behaved raw peer proves the frames it builds are right.
    valid = tags[f"{ns('dev-valid')}/reg"]
    assert valid["quality"] == "Good" and valid["value"] == 10, valid
    assert tags[f"{ns('dev-valid')}/pair"]["value"] == (11 << 16) | 12
    # Let a few more rounds of bad frames arrive.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert gw.proc.alive(), f"airlock died on malformed frames:\n{gw.proc.stderr_tail()}"
        time.sleep(0.2)
    return gw


def wrong_qualities(gw, modes):
    tags = gw.tags()
    wrong = []
    for mode, accepted in modes.items():
        for t in RAW_TAGS:
            q = tags[f"{ns('dev-' + mode)}/{t['name']}"]["quality"]
            if q not in accepted:
                wrong.append(f"{mode}/{t['name']}: expected {sorted(accepted)}, got {q}")
    return wrong


def test_malformed_frames_are_communication_errors(procs, start_airlock, tmp_path):
    gw = start_raw_devices(procs, start_airlock, tmp_path, MALFORMED_MODES)
    wrong = wrong_qualities(gw, MALFORMED_MODES)
    assert not wrong, "malformed answers not reported as such:\n" + "\n".join(wrong)

    # Still serving, the healthy device still Good and updating.
    assert gw.health()["devices"]
    t0 = gw.tag(f"{ns('dev-valid')}/reg")["timestamp_ms"]
    e2e.wait_until(lambda: gw.tag(f"{ns('dev-valid')}/reg")["timestamp_ms"] > t0,
                   what="healthy device still polled")
    m = gw.metrics()
    errs = e2e.metric_values(m, "airlock_request_errors_total", device="dev-wrong-tid")
    assert errs and errs[0] > 0, "request errors counted for the bad device"
    rc, _ = gw.stop()
    assert rc == 0, f"exit status {rc}"


def test_answer_from_another_unit_is_rejected(procs, start_airlock, tmp_path):
    """docs/running.md: an answer with the wrong unit id is malformed
    (Bad_CommunicationError), not data: behind a Modbus TCP gateway to a
    serial line, another unit's registers are another device's."""
    modes = {"wrong-unit": {"Bad_CommunicationError"}}
    gw = start_raw_devices(procs, start_airlock, tmp_path, modes)
    wrong = wrong_qualities(gw, modes)
    assert not wrong, "an answer from another unit was accepted:\n" + "\n".join(wrong)
    rc, _ = gw.stop()
    assert rc == 0


# ------------------------------------------------------------------ (d)


def test_dead_device_never_delays_a_healthy_one(procs, start_airlock, tmp_path):
    dead_port, live_port = e2e.free_port(), e2e.free_port()
    e2e.start_raw_peer(procs, dead_port, "silent", name="silent")
    counter_peer(procs, tmp_path, live_port, name="live")
    timeout_ms = 1000
    devices = [
        e2e.modbus_device("dead", dead_port,
                          [{"name": "reg", "area": "holding", "address": 0, "type": "uint16"}],
                          interval_ms=100, timeout_ms=timeout_ms, retries=1,
                          backoff_initial_ms=200, backoff_max_ms=400),
        e2e.modbus_device("live", live_port, COUNTER_TAGS, interval_ms=100),
    ]
    cfg = e2e.write_file(tmp_path, "isolation.yaml", e2e.gateway_config(devices))
    gw = start_airlock(["-c", cfg])
    live = f"{ns('live')}/counter"
    dead = f"{ns('dead')}/reg"
    gw.wait_tags(lambda ts: ts[live]["quality"] == "Good", what="live device Good")
    gw.wait_tags(lambda ts: ts[dead]["quality"] == "Bad_Timeout", timeout_s=10,
                 what="dead device Bad_Timeout")

    # Watch the live device for 3 s while the dead one keeps timing out.
    polls0 = e2e.metric_values(gw.metrics(), "airlock_polls_total", device="live")[0]
    stamps = []
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        t = gw.tag(live)
        assert t["quality"] == "Good", t
        if not stamps or t["timestamp_ms"] != stamps[-1]:
            stamps.append(t["timestamp_ms"])
        time.sleep(0.05)
    polls1 = e2e.metric_values(gw.metrics(), "airlock_polls_total", device="live")[0]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(stamps) >= 8, f"live tag updated only {len(stamps)} times in 3 s: {stamps}"
    assert max(gaps) < timeout_ms, (
        f"live device's updates paused for {max(gaps)} ms, as long as the dead device's"
        f" timeout ({timeout_ms} ms): {gaps}"
    )
    assert polls1 - polls0 >= 8, f"live polls in 3 s: {polls1 - polls0}"
    dead_health = gw.device_health("dead")
    assert dead_health["state"] != "connected" and dead_health["last_error"], dead_health
    m = gw.metrics()
    timeouts = e2e.metric_values(m, "airlock_request_errors_total", device="dead")
    assert timeouts and timeouts[0] > 0
    rc, _ = gw.stop()
    assert rc == 0


# ------------------------------------------------------------------ (e)


def sim_namespaces(config_text):
    """{device name: namespace} of a gateway YAML printed by `airlock sim
    --print-config`: the `- name:` items at the shallowest indentation under
    `devices:`, each with the first `namespace:` that follows."""
    lines = config_text.splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(r"^devices\s*:", l))
    items = []
    for line in lines[start + 1:]:
        m = re.match(r"^(\s*)- name:\s*\"?([A-Za-z0-9_.-]+)\"?", line)
        if m:
            items.append((len(m.group(1)), m.group(2), None))
            continue
        m = re.match(r"^\s*namespace:\s*\"?([^\"\s]+)\"?", line)
        if m and items and items[-1][2] is None:
            items[-1] = (items[-1][0], items[-1][1], m.group(1))
    indent = min(i for i, _, _ in items)
    return {name: ns for i, name, ns in items if i == indent}


def faster(config_text):
    """The simulator's config with test-friendly timeouts and back-off."""
    config_text = re.sub(r"(\btimeout_ms:\s*)\d+", r"\g<1>300", config_text)
    config_text = re.sub(r"(\n(\s*)timeout_ms:[^\n]*)",
                         r"\1\n\2backoff_initial_ms: 200\n\2backoff_max_ms: 800", config_text)
    return config_text


def start_sim(procs, port_base, faults):
    args = [e2e.airlock_bin(), "sim", "--port-base", str(port_base)]
    for f in faults:
        args += ["--fault", f]
    sim = procs.start(args, "sim")

    def up():
        if not sim.alive():
            raise e2e.Fatal(f"airlock sim exited {sim.returncode()}: {sim.stderr_tail()}")
        return e2e.port_is_listening(port_base)

    e2e.wait_until(up, timeout_s=20, what="airlock sim listening")
    return sim


def sim_config(port_base):
    r = e2e.run_airlock(["sim", "--print-config", "--port-base", str(port_base)])
    assert r.returncode == 0, f"airlock sim --print-config: {r.returncode} {r.stderr}"
    return r.stdout


def qualities_by_device(tags, namespaces):
    out = {}
    for dev, ns_ in namespaces.items():
        out[dev] = sorted({t["quality"] for p, t in tags.items() if p.startswith(ns_ + "/")})
    return out


def test_sim_scheduled_offline_fault(procs, start_airlock, tmp_path):
    base = e2e.free_port_range(16)
    text = sim_config(base)
    namespaces = sim_namespaces(text)
    assert "tank" in namespaces, f"demo plant devices: {namespaces}"
    cfg = e2e.write_file(tmp_path, "sim.yaml", faster(text))
    check = e2e.run_airlock(["check", "-c", cfg])
    assert check.returncode == 0, check.stderr

    # Offline (connections accepted, never answered) from 5 s to 8 s of sim time.
    sim_started = time.monotonic()
    start_sim(procs, base, ["tank:offline@5-8"])
    gw = start_airlock(["-c", cfg])

    def tank():
        return qualities_by_device(gw.tags(), namespaces)["tank"]

    e2e.wait_until(lambda: tank() == ["Good"], timeout_s=10, what="tank Good before the fault")
    assert time.monotonic() - sim_started < 5.0, (
        "the gateway took more than 5 s to read the tank: the fault window cannot be observed"
    )
    # Tags of the slow poll group (60 s) are not read during the window: look
    # for the polled ones turning Bad.
    qs = e2e.wait_until(lambda: any(q.startswith("Bad") for q in tank()) and tank(),
                        timeout_s=12, what="tank tags Bad during the offline window")
    bad = [q for q in qs if q != "Good"]
    assert bad == ["Bad_Timeout"], f"offline (never answers) should read as Bad_Timeout: {qs}"
    # Only the tank: the other devices stay Good meanwhile.
    others = {d: q for d, q in qualities_by_device(gw.tags(), namespaces).items() if d != "tank"}
    assert all(q == ["Good"] for q in others.values()), others
    e2e.wait_until(lambda: tank() == ["Good"], timeout_s=15,
                   what="tank tags Good again after the window")
    rc, _ = gw.stop()
    assert rc == 0


def test_sim_fault_kinds_map_to_qualities(procs, start_airlock, tmp_path):
    """Each fault kind of the simulator, active from the start on its own
    device, gives its documented quality; unfaulted devices stay Good."""
    base = e2e.free_port_range(16)
    text = sim_config(base)
    namespaces = sim_namespaces(text)
    wanted = {"tank": "exception", "meter": "garbage", "filler": "refuse", "tt101": "offline"}
    missing = [d for d in wanted if d not in namespaces]
    assert not missing, f"demo plant lacks devices {missing}: {namespaces}"
    cfg = e2e.write_file(tmp_path, "sim.yaml", faster(text))
    start_sim(procs, base, [f"{d}:{k}" for d, k in wanted.items()])
    gw = start_airlock(["-c", cfg])
    expected = {
        "exception": ["Bad_DeviceFailure"],  # ServerDeviceBusy
        "garbage": ["Bad_CommunicationError"],
        "refuse": ["Bad_NoCommunication"],
        "offline": ["Bad_Timeout"],
    }

    def settled():
        q = qualities_by_device(gw.tags(), namespaces)
        return all(qs and "Bad_WaitingForInitialData" not in qs for qs in q.values()) and q

    e2e.wait_until(settled, timeout_s=15, what="every device read once")
    time.sleep(1.0)  # a few more polls of each faulty device
    q = qualities_by_device(gw.tags(), namespaces)
    wrong = [f"{d} ({k}): expected {expected[k]}, got {q[d]}" for d, k in wanted.items()
             if q[d] != expected[k]]
    wrong += [f"{d} (no fault): expected Good, got {q[d]}" for d in namespaces
              if d not in wanted and q[d] != ["Good"]]
    assert not wrong, "\n".join(wrong)
    h = {d["name"]: d for d in gw.health()["devices"]}
    assert "ServerDeviceBusy" in (h["tank"]["last_error"] or ""), h["tank"]
    assert h["pump"]["state"] == "connected", h["pump"]
    assert gw.health()["status"] != "ok"
    assert gw.proc.alive()
    rc, _ = gw.stop()
    assert rc == 0
