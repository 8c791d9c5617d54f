"""The command line and configuration errors: `airlock check` accepts every
shipped example and refuses broken files with FILE:LINE:COL pointing at the
culprit; `airlock run` with a broken file exits 2 at once and starts nothing;
--help on every command; unknown commands and options are usage errors."""

import glob
import os
import re
import signal
import socket
import time

import pytest

import airlock_e2e as e2e

# A valid configuration whose lines the broken variants below edit. Line
# numbers matter: keep the layout.
BASE = """\
gateway:
  name: broken-test
http:
  listen: 127.0.0.1:{http_port}
devices:
  - name: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: 1502
    unit_id: 1
    namespace: acme/site/area/line/cell
    poll_groups:
      - name: fast
        interval_ms: 500
        tags:
          - name: temperature
            area: holding
            address: 0
            type: float32
            unit: degC
          - name: running
            area: coil
            address: 3
            type: bool
"""


def base_lines(http_port=18080):
    return BASE.format(http_port=http_port).splitlines()


# name: (line number to edit, new line or None to delete, (line, token) where
#        the error must point, words the message must contain)
# The column expected is that of `token` on the pointed line, found in the
# edited file (1-based).
BROKEN = {
    "unknown_key": (10, "    unit_idd: 1", (10, "unit_idd"), ["unit_idd"]),
    "duplicate_key": (10, "    port: 1503", (10, "port"), ["port"]),
    "integer_expected": (18, "            address: twelve", (18, "twelve"), ["expected", "address"]),
    "unknown_type": (19, "            type: float33", (19, "float33"), ["expected", "float32"]),
    "unknown_area": (17, "            area: registers", (17, "registers"), ["expected", "holding"]),
    "port_out_of_range": (9, "    port: 70000", (9, "70000"), ["expected", "port"]),
    "address_out_of_range": (18, "            address: 65536", (18, "65536"), ["expected"]),
    "bad_listen": (4, "  listen: 127.0.0.1:99999", (4, "127.0.0.1:99999"), ["expected"]),
    "bad_protocol": (7, "    protocol: opcua-tcp", (7, "opcua-tcp"), ["expected", "modbus-tcp"]),
    "bad_order": (20, "            order: XYZW", (20, "XYZW"), ["expected", "order"]),
    "bad_namespace": (11, "    namespace: acme//line", (11, "acme//line"), ["expected", "namespace"]),
    "negative_interval": (14, "        interval_ms: -5", (14, "-5"), ["expected", "interval_ms"]),
    "missing_namespace": (11, None, (6, "name"), ["missing", "namespace"]),
    "duplicate_tag_path": (21, "          - name: temperature", (21, "temperature"),
                           ["duplicate", "acme/site/area/line/cell/temperature"]),
    "bool_register_without_bit": (22, "            area: holding", (21, "name"), ["bit"]),
    "yaml_syntax": (17, "            area: holding: x", (17, ": x"), []),
}


def make_broken(tmp_path, case, http_port=18080):
    line_no, new, (err_line, token), words = BROKEN[case]
    lines = base_lines(http_port)
    if new is None:
        del lines[line_no - 1]
        if err_line > line_no:
            err_line -= 1
    else:
        lines[line_no - 1] = new
    path = e2e.write_file(tmp_path, f"{case}.yaml", "\n".join(lines) + "\n")
    col = lines[err_line - 1].index(token) + 1
    return path, err_line, col, words


def test_base_config_is_valid(tmp_path):
    path = e2e.write_file(tmp_path, "base.yaml", "\n".join(base_lines()) + "\n")
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout and "2 tag" in r.stdout, r.stdout


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_refuses_broken_config_with_position(tmp_path, case):
    path, line, col, words = make_broken(tmp_path, case)
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 2, f"exit {r.returncode}, stdout {r.stdout!r} stderr {r.stderr!r}"
    msg = r.stderr.strip()
    prefix = f"{path}:{line}:"
    assert prefix in msg, f"expected the error at {path}:{line}:{col}, got: {msg}"
    where = msg[msg.index(prefix) + len(prefix):]
    got_col = where.split(":", 1)[0]
    if case == "yaml_syntax":
        # libyaml reports where it noticed the problem: at the second ':' or just after.
        assert got_col.isdigit() and col <= int(got_col) <= col + 2, msg
    else:
        assert got_col == str(col), f"expected column {col}, got: {msg}"
    for w in words:
        assert w in msg, f"message should mention {w!r}: {msg}"
    assert "AddressSanitizer" not in r.stderr


def test_check_refuses_unreadable_and_empty_files(tmp_path):
    missing = os.path.join(str(tmp_path), "nope.yaml")
    r = e2e.run_airlock(["check", "-c", missing])
    assert r.returncode == 2 and missing in r.stderr, r.stderr
    empty = e2e.write_file(tmp_path, "empty.yaml", "")
    r = e2e.run_airlock(["check", "-c", empty])
    assert r.returncode == 2 and empty in r.stderr, r.stderr
    binary = os.path.join(str(tmp_path), "binary.yaml")
    with open(binary, "wb") as f:
        f.write(b"\x00\xff\xfe garbage \x00" * 50)
    r = e2e.run_airlock(["check", "-c", binary])
    assert r.returncode == 2 and binary in r.stderr, r.stderr


def test_check_accepts_every_example(tmp_path):
    files = sorted(glob.glob(os.path.join(e2e.SRC, "examples", "*.yaml")))
    assert files, "examples/ holds no .yaml file"
    # The one-way examples name a key file a person makes with `airlock link-key`.
    key = os.path.join(str(tmp_path), "link.key")
    assert e2e.run_airlock(["link-key", "--out", key]).returncode == 0
    for f in files:
        text = open(f).read()
        if "key_file: link.key" in text:
            f = e2e.write_file(tmp_path, os.path.basename(f),
                               text.replace("key_file: link.key", f"key_file: {key}"))
        r = e2e.run_airlock(["check", "-c", f])
        assert r.returncode == 0, f"airlock check -c {f}: exit {r.returncode}\n{r.stderr}"
        assert "valid" in r.stdout, r.stdout


def test_sim_print_config_is_valid(tmp_path):
    r = e2e.run_airlock(["sim", "--print-config", "--port-base", "40000"])
    assert r.returncode == 0, r.stderr
    path = e2e.write_file(tmp_path, "sim.yaml", r.stdout)
    c = e2e.run_airlock(["check", "-c", path])
    assert c.returncode == 0, c.stderr
    assert "40000" in r.stdout


def test_run_with_broken_config_starts_nothing(tmp_path):
    http_port = e2e.free_port()
    path, line, _, _ = make_broken(tmp_path, "unknown_key", http_port=http_port)
    t0 = time.monotonic()
    r = e2e.run_airlock(["run", "-c", path], timeout_s=20)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert f"{path}:{line}:" in r.stderr, r.stderr
    assert "listening" not in r.stderr and "connected" not in r.stderr, r.stderr
    assert not e2e.port_is_listening(http_port)
    assert time.monotonic() - t0 < 15


def test_run_with_broken_config_never_opens_http(procs, tmp_path):
    """Watch the port while the process lives, not only after it exits."""
    http_port = e2e.free_port()
    path, _, _, _ = make_broken(tmp_path, "port_out_of_range", http_port=http_port)
    p = procs.start([e2e.airlock_bin(), "run", "-c", path], "run-broken")
    opened = False
    while p.alive():
        opened = opened or e2e.port_is_listening(http_port)
        time.sleep(0.01)
    assert p.returncode() == 2, p.stderr()
    assert not opened, "a broken configuration must not open the HTTP port"


@pytest.mark.parametrize(
    "command", ["run", "check", "sim", "query", "export", "opcua", "user", "token", "audit"]
)
def test_help_on_every_command(command):
    for flag in ("--help", "-h"):
        r = e2e.run_airlock([command, flag])
        assert r.returncode == 0, f"airlock {command} {flag}: {r.returncode} {r.stderr}"
        assert "Usage: airlock " + command in r.stdout, r.stdout


def test_top_level_help_and_version():
    r = e2e.run_airlock(["--help"])
    assert r.returncode == 0 and "Usage" in r.stdout
    for c in ("run", "check", "sim"):
        assert c in r.stdout
    r = e2e.run_airlock(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("airlock ")


USAGE_ERRORS = [
    [],
    ["frobnicate"],
    ["run", "--bogus-option"],
    ["run", "unexpected-argument"],
    ["run", "--seed", "-1x"],
    ["run", "--sim-port-base", "70000"],
    ["run", "--log-level", "loud", "--sim-port-base", "{base}"],
    ["check"],
    ["check", "--bogus"],
    ["check", "-c"],
    ["sim", "--port-base", "notaport"],
    ["sim", "--port-base", "{base}", "--fault", "pump:meltdown"],
    ["sim", "--port-base", "{base}", "--fault", "nosuchdevice:offline"],
    ["sim", "--port-base", "{base}", "--fault", "tank:offline@later"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) or "(none)" for a in USAGE_ERRORS])
def test_usage_errors_exit_2(args):
    base = str(e2e.free_port_range(16))  # should anything start by mistake, not on 5020
    args = [a.replace("{base}", base) for a in args]
    r = e2e.run_airlock(args, timeout_s=20)
    assert r.returncode == 2, f"airlock {' '.join(args)}: exit {r.returncode}, {r.stderr}"
    assert r.stderr.strip(), f"airlock {' '.join(args)}: a usage error must say why"


def test_run_exits_1_when_the_http_port_is_taken(tmp_path):
    """docs/running.md: 1 when something could not start; the message names
    the address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        base = e2e.free_port_range(16)
        r = e2e.run_airlock(["run", "--sim-port-base", str(base), "--http", f"127.0.0.1:{port}",
                             "--data", str(tmp_path / "data")], timeout_s=30)
        assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
        assert f"127.0.0.1:{port}" in r.stderr, r.stderr
        assert not e2e.port_is_listening(base), "the demo plant must be stopped again"


def test_run_exits_1_when_a_demo_port_is_taken(tmp_path):
    base = e2e.free_port_range(16)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", base + 2))
        blocker.listen(1)
        http_port = e2e.free_port()
        r = e2e.run_airlock(["run", "--sim-port-base", str(base), "--http",
                             f"127.0.0.1:{http_port}"], timeout_s=30)
        assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
        assert str(base + 2) in r.stderr, r.stderr
        assert not e2e.port_is_listening(http_port)


def test_log_level_option(start_airlock, tmp_path):
    """--log-level warn hides info lines; every log line is key=value."""
    dev = e2e.modbus_device("nowhere", e2e.free_port(),
                            [{"name": "x", "area": "holding", "address": 0, "type": "uint16"}])
    cfg = e2e.write_file(tmp_path, "quiet.yaml", e2e.gateway_config([dev]))
    gw = start_airlock(["-c", cfg, "--log-level", "warn"])
    gw.wait_tags(lambda ts: ts[f"{dev['namespace']}/x"]["quality"] == "Bad_NoCommunication",
                 what="unreachable device Bad_NoCommunication")
    rc, _ = gw.stop()
    assert rc == 0
    lines = [l for l in gw.stderr().splitlines() if " level=" in l]
    assert not [l for l in lines if "level=info" in l or "level=debug" in l], lines[:5]
    for l in lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=\w+ module=\w+ msg=", l), l


# ---------------------------------------------------------------- north (docs/north.md)

# Appended to BASE (which has 24 lines): the publisher starts at line 25.
NORTH = """\
north:
  - name: uns-main
    kind: uns
    url: mqtt://127.0.0.1:1883
    qos: 1
"""

# name: (line of NORTH to replace (1-based within NORTH), new line, token the
#        error points at, words the message must contain)
BROKEN_NORTH = {
    "unknown_key": (5, "    qoss: 1", "qoss", ["unknown key 'qoss'", "north publisher"]),
    "bad_kind": (3, "    kind: mqtt", "mqtt",
                 ["expected \"uns\" or \"sparkplug\" for 'kind', found \"mqtt\""]),
    "bad_url": (4, "    url: http://127.0.0.1:1883", "http://", ["mqtt://", "'url'"]),
    "qos_2": (5, "    qos: 2", "2", ["QoS 2 is not supported"]),
    "group_id_on_uns": (5, "    group_id: plant1", "group_id", ["only kind sparkplug"]),
}


def north_config(tmp_path, case=None, http_port=18080):
    lines = base_lines(http_port) + NORTH.splitlines()
    if case is None:
        return e2e.write_file(tmp_path, "north.yaml", "\n".join(lines) + "\n"), None, None, None
    rel, new, token, words = BROKEN_NORTH[case]
    line = len(base_lines(http_port)) + rel
    lines[line - 1] = new
    path = e2e.write_file(tmp_path, f"north_{case}.yaml", "\n".join(lines) + "\n")
    return path, line, lines[line - 1].index(token) + 1, words


def test_check_accepts_a_north_section(tmp_path):
    path, _, _, _ = north_config(tmp_path)
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout, r.stdout


@pytest.mark.parametrize("case", sorted(BROKEN_NORTH))
def test_check_refuses_a_bad_north_key_with_position(tmp_path, case):
    path, line, col, words = north_config(tmp_path, case)
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 2, f"exit {r.returncode}, stdout {r.stdout!r} stderr {r.stderr!r}"
    assert f"{path}:{line}:{col}: " in r.stderr, f"expected {path}:{line}:{col}: {r.stderr}"
    for w in words:
        assert w in r.stderr, f"message should mention {w!r}: {r.stderr}"
    assert "AddressSanitizer" not in r.stderr


def test_check_refuses_a_world_readable_password_file(tmp_path):
    secret = e2e.write_file(tmp_path, "mqtt.pass", "hunter2\n")
    os.chmod(secret, 0o644)
    lines = base_lines() + NORTH.splitlines() + ["    username: airlock",
                                                 f"    password_file: {secret}"]
    path = e2e.write_file(tmp_path, "pw.yaml", "\n".join(lines) + "\n")
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 2, r.stderr
    col = lines[-1].index(secret) + 1
    assert f"{path}:{len(lines)}:{col}: " in r.stderr, r.stderr
    assert secret in r.stderr and "readable by every user" in r.stderr, r.stderr
    assert "hunter2" not in r.stderr + r.stdout
    os.chmod(secret, 0o600)
    r = e2e.run_airlock(["check", "-c", path])
    assert r.returncode == 0, r.stderr


# args, the option the message must name
NORTH_USAGE_ERRORS = [
    (["run", "--sparkplug", "x"], "--sparkplug"),
    (["run", "--sparkplug", "x", "--sim-port-base", "{base}"], "--sparkplug"),
    (["run", "--mqtt", "http://127.0.0.1:1883"], "--mqtt"),
    (["run", "--mqtt", "mqtt://127.0.0.1:0"], "--mqtt"),
    (["run", "--mqtt", "mqtt://user:pw@127.0.0.1"], "--mqtt"),
    (["run", "--mqtt", "mqtt://127.0.0.1:1883/topic"], "--mqtt"),
    (["run", "--mqtt", "mqtt://127.0.0.1", "--sparkplug", "a/b"], "--sparkplug"),
    (["run", "--mqtt", "mqtt://127.0.0.1", "--sparkplug", "a+b"], "--sparkplug"),
    (["run", "--mqtt"], "mqtt"),
]


@pytest.mark.parametrize("args,option", NORTH_USAGE_ERRORS,
                         ids=[" ".join(a) for a, _ in NORTH_USAGE_ERRORS])
def test_north_usage_errors_exit_2(args, option):
    base = str(e2e.free_port_range(16))
    args = [a.replace("{base}", base) for a in args]
    r = e2e.run_airlock(args, timeout_s=20)
    assert r.returncode == 2, f"airlock {' '.join(args)}: exit {r.returncode}, {r.stderr}"
    assert option in r.stderr, f"the message should name {option}: {r.stderr}"
    assert not e2e.port_is_listening(int(base)), "nothing may start on a usage error"


def test_run_mqtt_refused_when_the_file_has_a_cli_publisher(tmp_path):
    http_port = e2e.free_port()
    lines = base_lines(http_port) + NORTH.replace("uns-main", "cli").splitlines()
    path = e2e.write_file(tmp_path, "cli.yaml", "\n".join(lines) + "\n")
    r = e2e.run_airlock(["run", "-c", path, "--mqtt", "mqtt://127.0.0.1:1"], timeout_s=20)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert "'cli'" in r.stderr, r.stderr
    assert not e2e.port_is_listening(http_port)


def test_run_help_documents_mqtt_and_sparkplug():
    r = e2e.run_airlock(["run", "--help"])
    assert r.returncode == 0
    assert "--mqtt URL" in r.stdout and "--sparkplug GROUP" in r.stdout, r.stdout
    assert "mqtts://" in r.stdout, r.stdout


def north_names(gw):
    return sorted(p["name"] for p in gw.health().get("north", []))


def test_sighup_keeps_the_mqtt_publisher(start_airlock, tmp_path):
    """--mqtt adds publisher 'cli' next to the file's own; a reload (SIGHUP)
    applies it to the new file again. No broker is needed: the publishers
    only have to exist (they keep trying to connect to a closed port)."""
    closed = e2e.free_port()
    lines = base_lines() + NORTH.replace("1883", str(closed)).splitlines()
    del lines[2:4]  # http: --http gives it
    path = e2e.write_file(tmp_path, "north.yaml", "\n".join(lines) + "\n")
    gw = start_airlock(["-c", path, "--mqtt", f"mqtt://127.0.0.1:{closed}"])
    e2e.wait_until(lambda: north_names(gw) == ["cli", "uns-main"],
                   what="publishers cli and uns-main in /api/v1/health")
    # The file's publisher renamed: the reloaded file has it, and cli again.
    with open(path, "w") as f:
        f.write("\n".join(lines).replace("uns-main", "uns-next") + "\n")
    gw.proc.signal(signal.SIGHUP)
    e2e.wait_until(lambda: north_names(gw) == ["cli", "uns-next"],
                   what="publishers cli and uns-next after SIGHUP")
    rc, _ = gw.stop()
    assert rc == 0, gw.stderr()
