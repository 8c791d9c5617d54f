"""One-way mode across two network namespaces (docs/oneway.md).

The test builds an OT namespace and an IT namespace joined by a veth pair
(10.77.x.1 on the OT side, 10.77.x.2 on the IT side), with the deployment
firewall rule in the OT namespace (everything arriving from the IT side is
dropped), static neighbour entries (no ARP) and IPv6 off on the pair (no
neighbour discovery). In the OT namespace: the demo plant simulator and
`airlock ot`; in the IT namespace: `airlock it`. It asserts:

- data arrives complete: every tag of the plant is on the IT side's
  /api/v1/tags, Good, with values moving;
- the OT side's device statistics cross the link: the IT side's
  /api/v1/health lists every device of the plant as connected, and its
  /metrics has the airlock_device_* families for them;
- nothing comes back: a capture on the OT side's interface (inbound) holds
  zero packets for the whole run, and `ss` shows no listening socket of the
  `airlock ot` process;
- with 5 % loss (tc netem on the OT side's egress) the receiver's reported
  gaps are exactly the sequence numbers that a capture on the IT side's
  interface did not see (complementary over the captured range), and the
  loss is in the audit trail.

Skipped only when namespaces cannot be created (not root / no CAP_NET_ADMIN).
"""

import json
import os
import signal
import struct
import subprocess
import time

import pytest

import airlock_e2e as e2e

PID = os.getpid()
NS_OT = f"alot{PID}"
NS_IT = f"alit{PID}"
VETH_OT = f"aot{PID % 100000}"
VETH_IT = f"ait{PID % 100000}"
NET = f"10.77.{PID % 250}"
IP_OT = f"{NET}.1"
IP_IT = f"{NET}.2"
LINK_PORT = 7400
LINK_ID = 7


def run(*argv, check=True, timeout=20):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def ns(name, *argv, **kw):
    return run("ip", "netns", "exec", name, *argv, **kw)


def mac_of(namespace, dev):
    out = ns(namespace, "cat", f"/sys/class/net/{dev}/address").stdout
    return out.strip()


def create_namespaces():
    """The two namespaces and the link between them; pytest.skip when the
    kernel refuses a namespace."""
    r = run("ip", "netns", "add", NS_OT, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create network namespaces (need root or CAP_NET_ADMIN): "
                    f"{r.stderr.strip()}")
    run("ip", "netns", "add", NS_IT)
    for name in (NS_OT, NS_IT):
        for key in ("all", "default"):
            ns(name, "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1")
    run("ip", "link", "add", VETH_OT, "type", "veth", "peer", "name", VETH_IT)
    run("ip", "link", "set", VETH_OT, "netns", NS_OT)
    run("ip", "link", "set", VETH_IT, "netns", NS_IT)
    for name, dev, addr in ((NS_OT, VETH_OT, IP_OT), (NS_IT, VETH_IT, IP_IT)):
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", name, "addr", "add", f"{addr}/24", "dev", dev)
        run("ip", "-n", name, "link", "set", dev, "up")
    # No ARP across the link: the OT side knows the IT side's address, and
    # the IT side never has anything to send.
    run("ip", "-n", NS_OT, "neigh", "replace", IP_IT, "lladdr", mac_of(NS_IT, VETH_IT), "dev",
        VETH_OT, "nud", "permanent")
    run("ip", "-n", NS_IT, "neigh", "replace", IP_OT, "lladdr", mac_of(NS_OT, VETH_OT), "dev",
        VETH_IT, "nud", "permanent")
    # The deployment rule (docs/oneway.md): nothing from the IT side enters.
    rules = (
        "table inet airlock_oneway {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    iifname \"{VETH_OT}\" drop\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f"    iifname \"{VETH_OT}\" drop\n"
        "  }\n"
        "}\n"
    )
    r = subprocess.run(["ip", "netns", "exec", NS_OT, "nft", "-f", "-"], input=rules,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"nft: {r.stderr}"


def delete_namespaces():
    for name in (NS_OT, NS_IT):
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


@pytest.fixture
def namespaces():
    try:
        create_namespaces()
        yield
    finally:
        delete_namespaces()


# ------------------------------------------------------------------- pcap


def pcap_packets(path):
    """The frames of a classic pcap file (tcpdump -w): a list of bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"expected Ethernet captures, found link type {linktype}"
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def link_sequences(frames):
    """(session, sequence) of every one-way link datagram (UDP to
    LINK_PORT) among Ethernet frames; the header layout is docs/oneway.md's."""
    out = []
    for fr in frames:
        if len(fr) < 14 + 20 + 8 or fr[12:14] != b"\x08\x00":
            continue
        ip = fr[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:  # UDP
            continue
        udp = ip[ihl:]
        if struct.unpack(">H", udp[2:4])[0] != LINK_PORT:
            continue
        payload = udp[8:]
        if len(payload) < 36 or payload[:2] != b"AL":
            continue
        session, seq = struct.unpack("<QQ", payload[8:24])
        out.append((session, seq))
    return out


# ------------------------------------------------------------------- processes


def start_capture(procs, namespace, dev, pcap, *expr, direction=None):
    argv = ["ip", "netns", "exec", namespace, "tcpdump", "-i", dev, "-n", "-U", "-w", pcap]
    if direction:
        argv += ["-Q", direction]
    p = procs.start(argv + list(expr), f"tcpdump-{namespace}")
    wait_alive_until(p, lambda: "listening on" in p.stderr(), f"tcpdump on {dev}")
    return p


def wait_alive_until(p, cond, what, timeout_s=20):
    """wait_until(cond), failing at once if process p exits."""
    def check():
        if not p.alive():
            raise e2e.Fatal(f"{p.name} exited: {p.stderr()[-2000:]}")
        return cond()
    return e2e.wait_until(check, timeout_s=timeout_s, what=what)


def stop_capture(p):
    p.signal(signal.SIGINT)
    assert p.wait(10) is not None, "tcpdump did not stop"


def start_loss():
    """5 % random loss on the OT side's egress: tc netem, or where the kernel
    has no netem (some sandboxes), an nftables rule dropping a random 5 % of
    the link's datagrams on output. Returns the function that ends it."""
    r = ns(NS_OT, "tc", "qdisc", "add", "dev", VETH_OT, "root", "netem", "loss", "5%",
           check=False)
    if r.returncode == 0:
        return lambda: ns(NS_OT, "tc", "qdisc", "del", "dev", VETH_OT, "root")
    print(f"tc netem unavailable ({r.stderr.strip()}): 5 % loss with nftables numgen instead")
    rules = (
        "table inet airlock_loss {\n"
        "  chain output {\n"
        "    type filter hook output priority 0; policy accept;\n"
        f"    oifname \"{VETH_OT}\" udp dport {LINK_PORT} numgen random mod 100 < 5 drop\n"
        "  }\n"
        "}\n"
    )
    r = subprocess.run(["ip", "netns", "exec", NS_OT, "nft", "-f", "-"], input=rules,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"nft: {r.stderr}"
    return lambda: ns(NS_OT, "nft", "delete", "table", "inet", "airlock_loss")


def it_get(port, token, path):
    """GET on the IT side's API (inside its namespace)."""
    r = ns(NS_IT, "curl", "-s", "--max-time", "5", "-H", f"Authorization: Bearer {token}",
           f"http://127.0.0.1:{port}{path}")
    return json.loads(r.stdout)


def it_get_text(port, token, path):
    """GET on the IT side's API, the body as text."""
    r = ns(NS_IT, "curl", "-s", "--max-time", "5", "-H", f"Authorization: Bearer {token}",
           f"http://127.0.0.1:{port}{path}")
    return r.stdout


def listening_sockets_of(pid):
    """Lines of `ss -lnptu` in the OT namespace that belong to pid."""
    out = ns(NS_OT, "ss", "-H", "-lnptu").stdout
    return [line for line in out.splitlines() if f"pid={pid}," in line]


def fast_tag_paths(plant_yaml):
    """Paths of the plant's tags polled at least every second without a
    deadband (reported at every poll), from `airlock sim --print-config`'s
    fixed layout."""
    paths, namespace, interval, tag, has_deadband = set(), "", 0, None, False

    def close_tag():
        if tag and interval <= 1000 and not has_deadband:
            paths.add(f"{namespace}/{tag}")

    for line in plant_yaml.splitlines():
        stripped = line.strip()
        if line.startswith("    namespace: "):
            namespace = stripped.split(": ", 1)[1]
        elif line.startswith("        interval_ms: "):
            interval = int(stripped.split(": ", 1)[1])
        elif line.startswith("          - name: "):
            close_tag()
            tag, has_deadband = stripped.split(": ", 1)[1], False
        elif stripped.startswith("deadband:"):
            has_deadband = True
        elif line.startswith("      - name: ") or line.startswith("  - name: "):
            close_tag()
            tag = None
    close_tag()
    return paths


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_oneway_between_namespaces(namespaces, procs, tmp_path):
    t_start = time.monotonic()
    tmp = str(tmp_path)
    binary = e2e.airlock_bin()
    key = os.path.join(tmp, "link.key")
    r = run(binary, "link-key", "--out", key)
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"

    # The demo plant's configuration, with the OT side's link section.
    sim_port = 15020
    plant = run(binary, "sim", "--port-base", str(sim_port), "--print-config").stdout
    ot_yaml = plant.replace(
        "\nhttp:\n",
        "\nlink:\n"
        f"  destination: {IP_IT}:{LINK_PORT}\n"
        f"  key_file: {key}\n"
        f"  link_id: {LINK_ID}\n"
        "  heartbeat_interval_ms: 50\n"
        "  birth_interval_ms: 2000\n"
        "http:\n", 1)
    assert "destination" in ot_yaml
    write(os.path.join(tmp, "ot.yaml"), ot_yaml)
    it_data = os.path.join(tmp, "it-data")
    http_port = 18080
    write(os.path.join(tmp, "it.yaml"),
          "gateway:\n  name: it-side\n"
          f"  data_dir: {it_data}\n"
          f"http:\n  listen: 127.0.0.1:{http_port}\n"
          "link:\n"
          f"  listen: {IP_IT}:{LINK_PORT}\n"
          f"  key_file: {key}\n"
          f"  link_id: {LINK_ID}\n"
          "  heartbeat_timeout_ms: 1000\n")
    token = e2e.provision_admin(it_data)

    # Inbound on the OT side's interface, for the whole run.
    ot_pcap = os.path.join(tmp, "ot-in.pcap")
    ot_cap = start_capture(procs, NS_OT, VETH_OT, ot_pcap, direction="in")

    sim = procs.start(["ip", "netns", "exec", NS_OT, binary, "sim", "--port-base", str(sim_port)],
                      "sim")
    it = procs.start(["ip", "netns", "exec", NS_IT, binary, "it", "-c",
                      os.path.join(tmp, "it.yaml")], "it")
    # The IT side listens before anything is sent (no port-unreachable).
    wait_alive_until(it, lambda: f":{LINK_PORT}" in ns(NS_IT, "ss", "-H", "-lnu").stdout,
                     "airlock it listening")
    wait_alive_until(sim, lambda: sim.stdout().count("listening on") >= 6, "the simulator")
    ot = procs.start(["ip", "netns", "exec", NS_OT, binary, "ot", "-c",
                      os.path.join(tmp, "ot.yaml"), "--data", os.path.join(tmp, "ot-data")],
                     "ot")

    # 1. Data arrives complete: every tag, Good, values moving.
    expected_tags = plant.count("          - name:")
    assert expected_tags > 50

    def all_good():
        tags = it_get(http_port, token, "/api/v1/tags")["tags"]
        if len(tags) != expected_tags:
            return None
        return tags if all(t["quality"] == "Good" for t in tags) else None

    first = e2e.wait_until(all_good, timeout_s=30, what="every tag Good on the IT side")
    first_ts = {t["path"]: t["timestamp_ms"] for t in first}

    fast = fast_tag_paths(plant)
    assert len(fast) > 30 and fast <= set(first_ts), sorted(fast - set(first_ts))[:5]

    def moved():
        tags = it_get(http_port, token, "/api/v1/tags")["tags"]
        return all(t["quality"] == "Good" for t in tags) and all(
            t["timestamp_ms"] > first_ts[t["path"]] for t in tags if t["path"] in fast)

    e2e.wait_until(moved, timeout_s=15, what="every tag updated again")
    health = it_get(http_port, token, "/api/v1/health")
    assert health["link"]["state"] == "up", health["link"]
    assert health["link"]["tags"] == expected_tags
    assert health["link"]["bad_mac"] == 0 and health["link"]["malformed"] == 0

    # The OT side's devices, as its drivers see them, on the IT side.
    plant_devices = [line.split(": ", 1)[1] for line in plant.splitlines()
                     if line.startswith("  - name: ")]
    assert len(plant_devices) >= 6, plant_devices

    def devices_connected():
        devices = it_get(http_port, token, "/api/v1/health")["devices"]
        by_name = {d["name"]: d for d in devices}
        if sorted(by_name) != sorted(plant_devices):
            return None
        return devices if all(d["state"] == "connected" for d in devices) else None

    devices = e2e.wait_until(devices_connected, timeout_s=15,
                             what="the OT side's devices connected on the IT side")
    assert all(d["protocol"] and d["endpoint"] and d["last_success"] for d in devices), devices
    link = it_get(http_port, token, "/api/v1/health")["link"]
    assert link["devices"] == len(plant_devices) and link["device_sets"] > 0, link
    metrics = it_get_text(http_port, token, "/metrics")
    for name in plant_devices:
        assert f'airlock_device_up{{device="{name}"' in metrics, f"no device series for {name}"
        assert f'airlock_polls_total{{device="{name}"' in metrics, name

    # 2. The OT process listens on nothing (TCP or UDP).
    assert ot.alive(), ot.stderr()
    assert listening_sockets_of(ot.pid) == [], listening_sockets_of(ot.pid)
    sim_lines = listening_sockets_of(sim.pid)
    assert sim_lines, "ss shows the simulator's listening sockets (the check works)"

    # 3. 5 % loss on the OT side's egress; capture what reaches the IT side.
    it_pcap = os.path.join(tmp, "it-in.pcap")
    it_cap = start_capture(procs, NS_IT, VETH_IT, it_pcap, "udp", "and", "dst", "port",
                           str(LINK_PORT))
    stop_loss = start_loss()
    time.sleep(10)
    stop_loss()
    time.sleep(1.5)  # lossless traffic after the gaps: the receiver reports them
    stop_capture(it_cap)
    time.sleep(1.0)
    link = it_get(http_port, token, "/api/v1/health")["link"]

    seen = link_sequences(pcap_packets(it_pcap))
    assert len(seen) > 150, f"only {len(seen)} datagrams captured"
    sessions = {s for s, _ in seen}
    assert len(sessions) == 1, sessions
    session = sessions.pop()
    got = {q for _, q in seen}
    low, high = min(got), max(got)
    missed = set(range(low, high + 1)) - got
    reported = set()
    for rg in link["lost_ranges"]:
        if int(rg["session"], 16) != session:
            continue
        for q in range(rg["first"], rg["last"] + 1):
            assert q not in reported, f"{q} reported twice"
            reported.add(q)
    reported_in_range = {q for q in reported if low <= q <= high}
    assert len(link["lost_ranges"]) < 256, "more ranges than health keeps"
    assert missed, "5 % loss over the capture lost nothing"
    assert reported_in_range == missed, (
        f"reported but captured: {sorted(reported_in_range - missed)[:20]}, "
        f"missed but not reported: {sorted(missed - reported_in_range)[:20]}")
    assert not (reported & got), "a captured datagram was reported lost"
    print(f"one-way link: {len(got)} datagrams captured on the IT side (numbers {low}..{high}), "
          f"{len(missed)} missed, reported lost exactly")

    # The loss is in the audit trail (aggregated, at most one record a second).
    audit = run(binary, "audit", "list", "--data", it_data).stdout
    assert "link_loss" in audit and "link_up" in audit, audit[-2000:]

    # 4. Nothing came back from the IT side during the whole run.
    stop_capture(ot_cap)
    inbound = pcap_packets(ot_pcap)
    assert inbound == [], f"{len(inbound)} packets arrived on the OT side from the IT side"
    assert ot.alive() and it.alive()

    for p in (ot, it, sim):
        p.signal(signal.SIGTERM)
        assert p.wait(15) == 0, f"{p.name} exit: {p.stderr()[-2000:]}"
    for p in (ot, it, sim):
        report = e2e.sanitizer_report(p.stderr())
        assert report is None, f"{p.name}: {report}"
    assert time.monotonic() - t_start < 90
