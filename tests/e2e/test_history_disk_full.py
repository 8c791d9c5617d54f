"""A full disk under a running gateway: its history directory sits on a
small tmpfs the test mounts; the test fills it to the last byte, then frees
it. While full, /api/v1/health and /metrics must say history is degraded,
naming the file and the error, and the gateway must keep polling and
serving live values. Once space returns, writing must resume by itself and
the samples polled during the outage must all be in the history (they were
held in memory). Needs permission to mount a tmpfs (root, as in CI); where
mounting is refused the test is skipped, saying why."""

import os
import subprocess
import time
import urllib.parse

import pytest

import airlock_e2e as e2e

NS = "e2e/site/area/line/disk"
COUNTER = f"{NS}/counter"
TMPFS_BYTES = 8 * 1024 * 1024


@pytest.fixture
def small_disk(procs):
    mount_point = procs.temp_dir("airlock-e2e-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", mount_point],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", mount_point], capture_output=True)


def fill(path):
    """Writes into path until the file system is full (unbuffered, so that
    closing the file has nothing left to write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while os.write(fd, b"\0" * size) > 0:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def history(gw, frm, to):
    q = urllib.parse.urlencode({"tag": COUNTER, "from": frm, "to": to, "limit": 1000000})
    return gw.get_json("/api/v1/history?" + q)["samples"]


def test_full_disk_degrades_history_and_recovers(procs, start_airlock, tmp_path, small_disk):
    port = e2e.free_port()
    spec = {"size": 10, "points": [],
            "counters": [{"unit": 1, "area": "holding", "address": 0, "period_ms": 100}]}
    e2e.start_modbus_peer(procs, port, spec, tmpdir=str(tmp_path))
    tags = [{"name": "counter", "area": "holding", "address": 0, "type": "uint16"}]
    text = e2e.gateway_config([e2e.modbus_device("disk", port, tags, interval_ms=100)])
    text += ("history:\n  durability: batched\n  fsync_interval_ms: 100\n"
             "  checkpoint_interval: 1s\n")
    cfg = e2e.write_file(tmp_path, "gateway.yaml", text)
    gw = start_airlock(["-c", cfg, "--data", small_disk])
    start_ms = int(time.time() * 1000)
    e2e.wait_until(lambda: len(history(gw, start_ms - 1000, "now")) >= 10, timeout_s=20,
                   what="history recording")
    assert gw.health()["history"]["status"] == "ok"

    filler = os.path.join(small_disk, "filler")
    fill(filler)
    full_ms = int(time.time() * 1000)

    def degraded():
        h = gw.health()
        return h["history"]["status"] == "degraded" and h["status"] == "degraded"

    e2e.wait_until(degraded, timeout_s=20, what="history reported degraded")
    h = gw.health()["history"]
    assert "No space left on device" in h["last_error"], h
    assert small_disk in h["last_error"], f"the error must name the file: {h['last_error']}"
    assert h["last_error_time"].endswith("Z")
    assert e2e.metric_values(gw.metrics(), "airlock_history_degraded") == [1.0]

    # Polling and live values go on while the disk is full.
    first = gw.tag(COUNTER)["timestamp"]
    time.sleep(1.5)
    live = gw.tag(COUNTER)
    assert live["timestamp"] > first and live["quality"] == "Good"

    os.unlink(filler)
    freed_ms = int(time.time() * 1000)
    e2e.wait_until(lambda: gw.health()["history"]["status"] == "ok", timeout_s=20,
                   what="history writing again after space returned")
    assert e2e.metric_values(gw.metrics(), "airlock_history_degraded") == [0.0]

    # Nothing polled during the outage is missing: at 100 ms per poll, no
    # gap in the recorded times is much longer than a poll.
    time.sleep(0.5)
    samples = history(gw, full_ms - 1000, freed_ms + 300)
    times = [e2e_ms(s["t"]) for s in samples]
    assert len(times) >= (freed_ms - full_ms + 1000) / 100 * 0.7, (len(times), freed_ms - full_ms)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 1000, f"a {max(gaps)} ms hole in the history around the outage"

    rc, _ = gw.stop()
    assert rc == 0, gw.proc.stderr_tail()

    # And they are on disk: a new gateway on the same directory reads them.
    gw2 = start_airlock(["-c", cfg, "--data", small_disk])
    again = history(gw2, full_ms - 1000, freed_ms + 300)
    assert [s["t"] for s in again] == [s["t"] for s in samples]
    gw2.stop()


def e2e_ms(iso):
    import datetime
    stamp = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
