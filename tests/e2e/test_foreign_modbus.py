"""A foreign Modbus TCP device (pymodbus, peers/modbus_peer.py) holds known
values in many layouts, encoded by the peer with Python's struct, independent
of airlock's codec. The gateway must report exactly the expected engineering
values: every type, all four byte/word orders of 32- and 64-bit values, bits of
a register, coils, discrete inputs, input registers, a string, scaling,
1-based addressing and two unit ids behind one TCP endpoint."""

import math
import re
import struct

import airlock_e2e as e2e

NS1 = "acme/plant/e2e/foreign/plc1"
NS2 = "acme/plant/e2e/foreign/plc2"

ORDERS32 = ["ABCD", "CDAB", "BADC", "DCBA"]
ORDERS64 = ["ABCDEFGH", "GHEFCDAB", "BADCFEHG", "HGFEDCBA"]


def layout_unit1():
    """(tag config, peer point or None, expected value) for unit 1 (0-based).
    Values differ per order so that a tag decoded with another order cannot
    match by accident."""
    rows = []

    def reg(name, address, type_, value, order=None, area="holding", expect=None, **tag):
        t = {"name": name, "area": area, "address": address, "type": type_}
        if order:
            t["order"] = order
        t.update(tag)
        p = {"unit": 1, "area": area, "address": address, "type": type_, "value": value}
        if order:
            p["order"] = order
        rows.append((t, p, value if expect is None else expect))

    reg("h_int16_negative", 0, "int16", -1234)
    reg("h_uint16", 1, "uint16", 65000)
    addr = 2
    for i, o in enumerate(ORDERS32):
        reg(f"h_int32_{o.lower()}", addr, "int32", -123456789 - i, o)
        addr += 2
    for i, o in enumerate(ORDERS32):
        reg(f"h_uint32_{o.lower()}", addr, "uint32", 4000000000 + i, o)
        addr += 2
    for i, o in enumerate(ORDERS32):
        reg(f"h_float32_{o.lower()}", addr, "float32", -273.25 + 1000 * i, o)  # exact in binary
        addr += 2
    for i, o in enumerate(ORDERS64):
        reg(f"h_int64_{o.lower()}", addr, "int64", -1234567890123456789 + i, o)
        addr += 4
    for i, o in enumerate(ORDERS64):
        # Above INT64_MAX: must not be confused with a negative number.
        reg(f"h_uint64_{o.lower()}", addr, "uint64", 0xF000000000000001 + i, o)
        addr += 4
    for i, o in enumerate(ORDERS64):
        reg(f"h_float64_{o.lower()}", addr, "float64", -12345.678901234 * (i + 1), o)
        addr += 4
    assert addr == 74
    # One register, several bits: 0xA004 = bits 15, 13 and 2 set.
    rows.append(
        (None, {"unit": 1, "area": "holding", "address": 74, "type": "uint16", "value": 0xA004}, None)
    )
    for bit, expected in ((2, True), (3, False), (13, True), (15, True), (0, False)):
        rows.append(
            ({"name": f"h_bit{bit}", "area": "holding", "address": 74, "type": "bool", "bit": bit},
             None, expected)
        )
    rows.append(
        (
            {"name": "h_string", "area": "holding", "address": 75, "type": "string", "length": 5},
            {"unit": 1, "area": "holding", "address": 75, "type": "string", "length": 5,
             "value": "AIRLOCK-7"},
            "AIRLOCK-7",
        )
    )
    reg("h_scaled_span", 80, "uint16", 1234, expect=30.85,
        scale={"raw": [0, 4000], "eng": [0, 100]}, unit="%")
    reg("h_scaled_gain", 81, "int16", -50, expect=15.0, scale={"gain": 0.1, "offset": 20})
    # Far away: its own request (beyond the merge gap).
    reg("h_far_uint16", 300, "uint16", 4242)
    # Coils and discrete inputs.
    for a, v in ((3, True), (4, False), (9, True)):
        rows.append(
            ({"name": f"coil_{a}", "area": "coil", "address": a, "type": "bool"},
             {"unit": 1, "area": "coil", "address": a, "value": v}, v)
        )
    for a, v in ((5, True), (6, False)):
        rows.append(
            ({"name": f"di_{a}", "area": "discrete_input", "address": a, "type": "bool"},
             {"unit": 1, "area": "discrete_input", "address": a, "value": v}, v)
        )
    # Input registers.
    reg("i_uint16", 0, "uint16", 4321, area="input")
    reg("i_float32_cdab", 1, "float32", 0.15625, "CDAB", area="input")
    reg("i_int32_dcba", 3, "int32", -7, "DCBA", area="input")
    reg("i_float64_abcd", 5, "float64", 6.02214076e23, "ABCDEFGH", area="input")
    return rows


def layout_unit2():
    """Unit 2 on the same endpoint, configured with 1-based addresses: file
    address N is protocol address N-1. Unit 1 holds other values at the same
    protocol addresses, so a wrong unit id or an off-by-one shows."""
    rows = [
        ({"name": "h_first", "area": "holding", "address": 1, "type": "uint16"},
         {"unit": 2, "area": "holding", "address": 0, "type": "uint16", "value": 777}, 777),
        ({"name": "h_int32", "area": "holding", "address": 101, "type": "int32", "order": "ABCD"},
         {"unit": 2, "area": "holding", "address": 100, "type": "int32", "order": "ABCD",
          "value": 424242}, 424242),
        ({"name": "coil_first", "area": "coil", "address": 1, "type": "bool"},
         {"unit": 2, "area": "coil", "address": 0, "value": True}, True),
        ({"name": "i_second", "area": "input", "address": 2, "type": "int16"},
         {"unit": 2, "area": "input", "address": 1, "type": "int16", "value": -2}, -2),
    ]
    return rows


def values_equal(got, expected):
    if isinstance(expected, bool):
        return got is expected
    if isinstance(expected, int):
        if expected > 2**63 - 1:  # docs/api.md: uint64 above INT64_MAX is a decimal string
            return got == str(expected)
        return isinstance(got, int) and not isinstance(got, bool) and got == expected
    if isinstance(expected, float):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(
            got, expected, rel_tol=1e-12, abs_tol=1e-12
        )
    return got == expected


def test_foreign_device_values_in_every_layout(procs, start_airlock, tmp_path):
    rows1, rows2 = layout_unit1(), layout_unit2()
    port = e2e.free_port()
    spec = {
        "units": [1, 2],
        "size": 400,
        "points": [p for _, p, _ in rows1 + rows2 if p is not None],
    }
    e2e.start_modbus_peer(procs, port, spec, tmpdir=str(tmp_path))
    devices = [
        e2e.modbus_device("plc1", port, [t for t, _, _ in rows1 if t], unit_id=1,
                          namespace=NS1, interval_ms=200),
        e2e.modbus_device("plc2", port, [t for t, _, _ in rows2 if t], unit_id=2,
                          namespace=NS2, addressing="1-based", interval_ms=200),
    ]
    cfg = e2e.write_file(tmp_path, "foreign.yaml", e2e.gateway_config(devices))
    check = e2e.run_airlock(["check", "-c", cfg])
    assert check.returncode == 0, f"airlock check refused the test's config:\n{check.stderr}"

    gw = start_airlock(["-c", cfg])
    expected = {f"{NS1}/{t['name']}": v for t, _, v in rows1 if t}
    expected.update({f"{NS2}/{t['name']}": v for t, _, v in rows2 if t})

    tags = gw.wait_tags(
        lambda ts: all(p in ts and ts[p]["quality"] == "Good" for p in expected),
        timeout_s=15,
        what="every foreign tag Good",
    )
    wrong = [
        f"{p}: expected {v!r}, got {tags[p]['value']!r}"
        for p, v in expected.items()
        if not values_equal(tags[p]["value"], v)
    ]
    assert not wrong, "values decoded wrongly:\n" + "\n".join(wrong)

    # The single-tag route agrees with the list.
    one = gw.tag(f"{NS1}/h_int64_ghefcdab")
    assert values_equal(one["value"], -1234567890123456789 + 1)
    assert one["quality"] == "Good" and one["quality_code"] == 0
    assert gw.tag(f"{NS1}/h_scaled_span")["unit"] == "%"

    health = gw.health()
    states = {d["name"]: d["state"] for d in health["devices"]}
    assert set(states) == {"plc1", "plc2"}, health
    rc, _ = gw.stop()
    assert rc == 0, f"airlock exit status {rc}: {gw.proc.stderr_tail()}"


def test_value_types_reported(procs, start_airlock, tmp_path):
    """Each wire type maps to its value type, and JSON carries it faithfully:
    integers as JSON integers, floats as numbers, bools as true/false."""
    port = e2e.free_port()
    points = [
        {"unit": 1, "area": "holding", "address": 0, "type": "int16", "value": -1},
        {"unit": 1, "area": "holding", "address": 1, "type": "float32", "value": 2.5},
        {"unit": 1, "area": "coil", "address": 0, "value": True},
        {"unit": 1, "area": "holding", "address": 3, "type": "string", "length": 2, "value": "ok"},
    ]
    e2e.start_modbus_peer(procs, port, {"points": points, "size": 50}, tmpdir=str(tmp_path))
    tags = [
        {"name": "i", "area": "holding", "address": 0, "type": "int16"},
        {"name": "f", "area": "holding", "address": 1, "type": "float32"},
        {"name": "b", "area": "coil", "address": 0, "type": "bool"},
        {"name": "s", "area": "holding", "address": 3, "type": "string", "length": 2},
    ]
    ns = "acme/plant/e2e/types/dev"
    cfg = e2e.write_file(
        tmp_path, "types.yaml",
        e2e.gateway_config([e2e.modbus_device("dev", port, tags, namespace=ns)]),
    )
    gw = start_airlock(["-c", cfg])
    got = gw.wait_tags(
        lambda ts: all(ts.get(f"{ns}/{n}", {}).get("quality") == "Good" for n in "ifbs"),
        what="typed tags Good",
    )
    assert got[f"{ns}/i"]["value"] == -1 and isinstance(got[f"{ns}/i"]["value"], int)
    assert got[f"{ns}/f"]["value"] == 2.5
    assert got[f"{ns}/b"]["value"] is True
    assert got[f"{ns}/s"]["value"] == "ok"
    assert got[f"{ns}/i"]["type"] == "int64"
    assert got[f"{ns}/f"]["type"] == "double"
    assert got[f"{ns}/b"]["type"] == "bool"
    assert got[f"{ns}/s"]["type"] == "string"


# ---------------------------------------------------------------- the simulator, read by a foreign client


def parse_generated_config(text):
    """Tags of the YAML printed by `airlock sim --print-config`, as dicts with
    their device's name, port and namespace. Knows only that layout: `- name:`
    items at three indentation levels (device, poll group, tag), each followed
    by its `key: value` lines."""
    items = []  # (indent, kind-less dict)
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)- (\w+):\s*(.*)$", line)
        if m:
            items.append((len(m.group(1)), {m.group(2): m.group(3).strip('"')}))
            continue
        m = re.match(r"^(\s*)(\w+):\s*(.*)$", line)
        if m and items and len(m.group(1)) > items[-1][0]:
            items[-1][1][m.group(2)] = m.group(3).strip('"')
    levels = sorted({i for i, d in items if "name" in d})
    assert len(levels) == 3, f"unexpected layout: indentation levels {levels}"
    tags, device = [], None
    for indent, d in items:
        if indent == levels[0]:
            device = d
        elif indent == levels[2]:
            tags.append(dict(d, device=device["name"], port=int(device["port"]),
                             namespace=device["namespace"]))
    return tags


def test_sim_answers_a_foreign_client_like_the_gateway_reads_it(procs, start_airlock, tmp_path):
    """`airlock sim` read by pymodbus (not airlock's driver): its string
    registers decode, with Python, to what the gateway reports; unmapped
    addresses give exception 2 (IllegalDataAddress)."""
    from pymodbus.client import ModbusTcpClient

    base = e2e.free_port_range(16)
    text = e2e.run_airlock(["sim", "--print-config", "--port-base", str(base)]).stdout
    tags = parse_generated_config(text)
    strings = [t for t in tags if t.get("type") == "string"]
    assert strings, "the demo plant has string tags (serial numbers)"
    sim = procs.start([e2e.airlock_bin(), "sim", "--port-base", str(base)], "sim")
    e2e.wait_until(lambda: sim.alive() and e2e.port_is_listening(base), timeout_s=20,
                   what="airlock sim listening")
    cfg = e2e.write_file(tmp_path, "sim.yaml", text)
    gw = start_airlock(["-c", cfg])
    paths = [f"{t['namespace']}/{t['name']}" for t in strings]
    got = gw.wait_tags(lambda ts: all(ts[p]["quality"] == "Good" for p in paths),
                       what="string tags Good")
    wrong = []
    for t, p in zip(strings, paths):
        client = ModbusTcpClient("127.0.0.1", port=t["port"], timeout=3)
        assert client.connect(), f"pymodbus cannot connect to {t['device']}"
        try:
            read = (client.read_holding_registers if t["area"] == "holding"
                    else client.read_input_registers)
            rr = read(int(t["address"]), int(t["length"]), slave=1)
            assert not rr.isError(), f"{t['device']}: {rr}"
            raw = b"".join(struct.pack(">H", r) for r in rr.registers)
            text_value = raw.rstrip(b"\0 ").decode("utf-8")
            if got[p]["value"] != text_value:
                wrong.append(f"{p}: pymodbus read {text_value!r}, gateway {got[p]['value']!r}")
            bad = client.read_holding_registers(60000, 4, slave=1)
            assert bad.isError() and getattr(bad, "exception_code", None) == 2, (
                f"{t['device']}: reading unmapped holding 60000 should give IllegalDataAddress,"
                f" got {bad}")
        finally:
            client.close()
    assert not wrong, "\n".join(wrong)
    assert sim.alive()
