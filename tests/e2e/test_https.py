"""HTTPS on the API (docs/api.md "HTTPS"): the self-signed certificate made
on first start verifies with curl, TLS below 1.2 is refused, the session
cookie is Secure, a configured certificate is served and a key that does
not match it is refused at start, and plain HTTP off loopback is refused
unless explicitly allowed."""

import os
import re
import subprocess
import time

import pytest

import airlock_e2e as e2e


def write_config(tmp, name, http, data_dir):
    lines = [
        "gateway: {name: https-e2e, data_dir: " + str(data_dir) + "}",
        "history: {enabled: false}",
        "http:",
    ] + [f"  {k}: {v}" for k, v in http.items()] + ["devices: []", ""]
    return e2e.write_file(tmp, name, "\n".join(lines))


def curl(*args, timeout_s=10):
    return subprocess.run(["curl", "-s", "-S", "--max-time", "5", *args],
                          capture_output=True, text=True, timeout=timeout_s)


def start(group, cfg, data_dir, name="airlock"):
    token = e2e.provision_admin(str(data_dir))
    proc = group.start([e2e.airlock_bin(), "run", "-c", cfg], name)
    return proc, token


def wait_banner(proc, scheme, port, timeout_s=20):
    banner = f"dashboard and API at {scheme}://"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise e2e.Fatal(f"airlock exited {proc.returncode()}:\n{proc.stderr_tail()}")
        if banner in proc.stderr() and f":{port}/" in proc.stderr():
            return
        time.sleep(0.1)
    raise e2e.Timeout(f"no '{banner}' banner:\n{proc.stderr_tail()}")


def stop_clean(proc):
    proc.signal(15)
    rc = proc.wait(5)
    assert rc == 0, f"exit status {rc}:\n{proc.stderr_tail()}"
    line = e2e.sanitizer_report(proc.stderr())
    assert line is None, line


def test_self_signed_certificate_works_with_curl(tmp_path):
    group = e2e.ProcessGroup()
    try:
        data = tmp_path / "data"
        port = e2e.free_port()
        cfg = write_config(tmp_path, "tls.yaml", {"listen": f"127.0.0.1:{port}", "tls": "on"}, data)
        proc, token = start(group, cfg, data)
        wait_banner(proc, "https", port)
        cert = data / "tls" / "cert.pem"
        key = data / "tls" / "key.pem"
        assert cert.exists() and key.exists()
        assert (os.stat(key).st_mode & 0o077) == 0, "the private key must be private (0600)"
        # The log gives the fingerprint a person compares with the browser's.
        m = re.search(r"fingerprint=SHA256:([0-9A-F:]+)", proc.stderr())
        assert m, proc.stderr_tail()
        out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint",
                              "-sha256"], capture_output=True, text=True).stdout
        assert m.group(1) in out, (m.group(1), out)

        base = f"https://127.0.0.1:{port}"
        r = curl("--cacert", str(cert), base + "/api/v1/health")
        assert r.returncode == 0 and '"status"' in r.stdout, r.stderr
        r = curl("--cacert", str(cert), f"https://localhost:{port}/api/v1/health")
        assert r.returncode == 0, f"the name localhost must verify too: {r.stderr}"
        # Without trusting the certificate, curl refuses it.
        r = curl(base + "/api/v1/health")
        assert r.returncode != 0
        # TLS 1.1 and below are refused; plain HTTP gets no answer.
        r = curl("-k", "--tlsv1.0", "--tls-max", "1.1", base + "/api/v1/health")
        assert r.returncode != 0, "TLS 1.1 must be refused"
        r = curl(f"http://127.0.0.1:{port}/api/v1/health")
        assert r.returncode != 0 or not r.stdout.startswith("{")
        # A token works over HTTPS; the session cookie is Secure.
        r = curl("--cacert", str(cert), "-H", f"Authorization: Bearer {token}",
                 base + "/api/v1/session")
        assert r.returncode == 0 and '"via":"token"' in r.stdout, r.stdout + r.stderr
        r = curl("--cacert", str(cert), "-D", "-", "-o", "/dev/null", "-H",
                 "Content-Type: application/json", "--data",
                 '{"user":"%s","password":"%s"}' % (e2e.E2E_ADMIN, e2e.E2E_PASSWORD),
                 base + "/api/v1/login")
        cookie = [l for l in r.stdout.splitlines() if l.lower().startswith("set-cookie:")]
        assert cookie and "Secure" in cookie[0] and "HttpOnly" in cookie[0], r.stdout
        stop_clean(proc)

        # The next start reuses the same certificate.
        proc2, _ = start(group, cfg, data, "airlock-again")
        wait_banner(proc2, "https", port)
        assert m.group(1) in proc2.stderr(), "the certificate must be kept across restarts"
        stop_clean(proc2)
    finally:
        group.close()


def make_cert(tmp, name, cn="gateway.test"):
    key, cert = tmp / f"{name}.key", tmp / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={cn}", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_configured_certificate_and_a_key_that_does_not_match(tmp_path):
    group = e2e.ProcessGroup()
    try:
        data = tmp_path / "data"
        cert, key = make_cert(tmp_path, "one")
        _, other_key = make_cert(tmp_path, "two")
        port = e2e.free_port()
        cfg = write_config(tmp_path, "own.yaml", {
            "listen": f"127.0.0.1:{port}", "tls": "on",
            "cert_file": str(cert), "key_file": str(key)}, data)
        proc, _ = start(group, cfg, data)
        wait_banner(proc, "https", port)
        r = curl("--cacert", str(cert), f"https://127.0.0.1:{port}/api/v1/health")
        assert r.returncode == 0, r.stderr
        assert not (data / "tls").exists(), "no self-signed certificate when one is configured"
        stop_clean(proc)

        bad = write_config(tmp_path, "bad.yaml", {
            "listen": f"127.0.0.1:{port}", "tls": "on",
            "cert_file": str(cert), "key_file": str(other_key)}, data)
        r = e2e.run_airlock(["run", "-c", bad], timeout_s=20)
        assert r.returncode != 0
        assert str(other_key) in r.stderr and "not a PEM private key for" in r.stderr, r.stderr

        half = write_config(tmp_path, "half.yaml", {"listen": f"127.0.0.1:{port}",
                                                    "cert_file": str(cert)}, data)
        r = e2e.run_airlock(["check", "-c", half])
        assert r.returncode != 0 and "go together" in r.stderr, r.stderr
    finally:
        group.close()


def test_plain_http_off_loopback_needs_explicit_consent(tmp_path):
    group = e2e.ProcessGroup()
    try:
        data = tmp_path / "data"
        port = e2e.free_port()
        off = write_config(tmp_path, "off.yaml", {"listen": f"0.0.0.0:{port}", "tls": "off"}, data)
        r = e2e.run_airlock(["run", "-c", off], timeout_s=20)
        assert r.returncode != 0 and "allow_plain_http" in r.stderr, r.stderr

        allowed = write_config(tmp_path, "allowed.yaml", {
            "listen": f"0.0.0.0:{port}", "tls": "off", "allow_plain_http": "true"}, data)
        proc, _ = start(group, allowed, data)
        wait_banner(proc, "http", port)
        r = curl(f"http://127.0.0.1:{port}/api/v1/health")
        assert r.returncode == 0 and '"status"' in r.stdout, r.stderr
        stop_clean(proc)

        # auto: a non-loopback address gets HTTPS with the self-signed certificate.
        auto = write_config(tmp_path, "auto.yaml", {"listen": f"0.0.0.0:{port}"}, data)
        proc, _ = start(group, auto, data, "airlock-auto")
        wait_banner(proc, "https", port)
        r = curl("--cacert", str(data / "tls" / "cert.pem"),
                 f"https://127.0.0.1:{port}/api/v1/health")
        assert r.returncode == 0, r.stderr
        stop_clean(proc)
    finally:
        group.close()
