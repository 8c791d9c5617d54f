"""`airlock user` and `airlock token` end to end on a temporary data
directory: adding users with --password-stdin, the list table, refusals with
their exit codes (unknown role 2, weak password 2, user exists 1), tokens
printed once, listed without their secret and revoked, and no password or
token anywhere in the database files' bytes."""

import os
import re
import subprocess

import airlock_e2e as e2e

PASSWORD = "Turbine-Hall-7-secret"
OTHER_PASSWORD = "another very long password"


def run(*args, stdin=None, data=None):
    """Runs airlock with args (plus --data DIR when given); returns the
    CompletedProcess after checking stderr for sanitizer reports."""
    cmd = [e2e.airlock_bin(), *args]
    if data is not None:
        cmd += ["--data", str(data)]
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    line = e2e.sanitizer_report(p.stderr)
    assert line is None, f"sanitizer report: {line}\n{p.stderr}"
    return p


def add_user(data, name, role, password=PASSWORD):
    return run("user", "add", name, "--role", role, "--password-stdin",
               stdin=password + "\n", data=data)


def list_rows(data, what="user"):
    p = run(what, "list", data=data)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    return lines[0], [re.split(r"\s{2,}", line.strip()) for line in lines[1:]], p.stdout


def all_bytes(data):
    blob = b""
    for name in os.listdir(data):
        with open(os.path.join(data, name), "rb") as f:
            blob += f.read()
    return blob


def test_users_end_to_end(tmp_path):
    data = tmp_path / "data"
    # Reading commands do not create a database.
    p = run("user", "list", data=data)
    assert p.returncode == 1 and "no user database" in p.stderr
    assert not data.exists()

    p = add_user(data, "alice", "admin")
    assert p.returncode == 0, p.stderr
    assert "alice" in p.stdout
    assert (os.stat(data / "airlock.db").st_mode & 0o077) == 0, "database readable by others"
    assert add_user(data, "op.bob", "operator").returncode == 0

    p = add_user(data, "alice", "viewer")
    assert p.returncode == 1 and "already exists" in p.stderr
    p = add_user(data, "carol", "superuser")
    assert p.returncode == 2 and "unknown role" in p.stderr
    p = add_user(data, "carol", "viewer", password="short")
    assert p.returncode == 2 and "at least 12" in p.stderr
    p = run("user", "add", "carol", "--role", "viewer", stdin="", data=data)
    assert p.returncode == 2 and "--password-stdin" in p.stderr  # stdin is not a terminal
    p = run("user", "add", "bad/name", "--role", "viewer", "--password-stdin",
            stdin=PASSWORD + "\n", data=data)
    assert p.returncode == 2 and "invalid user name" in p.stderr

    header, rows, text = list_rows(data)
    assert header.split()[:4] == ["NAME", "ROLE", "DISABLED", "LOCKED"]
    assert "CREATED" in header
    assert [r[:4] for r in rows] == [["alice", "admin", "no", "-"],
                                     ["op.bob", "operator", "no", "-"]]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", rows[0][4])
    assert "scrypt" not in text and PASSWORD not in text

    assert run("user", "disable", "op.bob", data=data).returncode == 0
    _, rows, _ = list_rows(data)
    assert rows[1][:3] == ["op.bob", "operator", "yes"]
    assert run("user", "enable", "op.bob", data=data).returncode == 0
    _, rows, _ = list_rows(data)
    assert rows[1][2] == "no"
    p = run("user", "disable", "nobody", data=data)
    assert p.returncode == 1 and "no user 'nobody'" in p.stderr

    p = run("user", "passwd", "op.bob", "--password-stdin", stdin=OTHER_PASSWORD + "\n",
            data=data)
    assert p.returncode == 0, p.stderr
    p = run("user", "passwd", "op.bob", "--password-stdin", stdin="tiny\n", data=data)
    assert p.returncode == 2

    blob = all_bytes(data)
    assert PASSWORD.encode() not in blob and OTHER_PASSWORD.encode() not in blob
    assert b"scrypt$15$8$1$" in blob  # the self-describing hashes are there instead


def test_tokens_end_to_end(tmp_path):
    data = tmp_path / "data"
    assert add_user(data, "alice", "admin").returncode == 0
    assert add_user(data, "viewer1", "viewer").returncode == 0

    p = run("token", "create", "--user", "alice", "--name", "historian export", "--role",
            "viewer", data=data)
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    assert re.fullmatch(r"alk_[A-Za-z0-9_-]{43}", token), token
    assert "only this once" in p.stderr
    p = run("token", "create", "--user", "alice", "--name", "scada", data=data)
    assert p.returncode == 0
    token2 = p.stdout.strip()
    assert token2 != token

    p = run("token", "create", "--user", "viewer1", "--name", "x", "--role", "admin", data=data)
    assert p.returncode == 2 and "cannot exceed" in p.stderr
    p = run("token", "create", "--user", "nobody", "--name", "x", data=data)
    assert p.returncode == 1
    p = run("token", "create", "--user", "alice", "--name", "x", "--role", "root", data=data)
    assert p.returncode == 2 and "unknown role" in p.stderr

    header, rows, text = list_rows(data, "token")
    assert header.split()[:5] == ["ID", "NAME", "USER", "ROLE", "CREATED"]
    assert [r[:4] for r in rows] == [["1", "historian export", "alice", "viewer"],
                                     ["2", "scada", "alice", "admin"]]
    assert rows[0][-1] == "-"  # not revoked
    assert token[4:] not in text and token2[4:] not in text

    p = run("token", "revoke", "1", data=data)
    assert p.returncode == 0, p.stderr
    _, rows, _ = list_rows(data, "token")
    assert re.match(r"\d{4}-\d\d-\d\dT", rows[0][-1]), rows[0]
    assert rows[1][-1] == "-"
    p = run("token", "revoke", "1", data=data)
    assert p.returncode == 1 and "no active token" in p.stderr
    p = run("token", "revoke", "abc", data=data)
    assert p.returncode == 2

    blob = all_bytes(data)
    for t in (token, token2):
        assert t.encode() not in blob and t[4:].encode() not in blob


def test_config_file_and_help(tmp_path):
    data = tmp_path / "from-config"
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(f"gateway:\n  name: t\n  data_dir: {data}\n")
    p = run("user", "add", "eve", "--role", "engineer", "--password-stdin", "-c", str(cfg),
            stdin=PASSWORD + "\n")
    assert p.returncode == 0, p.stderr
    assert (data / "airlock.db").exists()
    p = run("user", "list", "-c", str(cfg))
    assert p.returncode == 0 and "eve" in p.stdout and "engineer" in p.stdout

    for cmd in ("user", "token"):
        p = run(cmd, "--help")
        assert p.returncode == 0 and "Usage: airlock " + cmd in p.stdout
        p = run(cmd, "frobnicate")
        assert p.returncode == 2 and "unknown subcommand" in p.stderr
    p = run("--help")
    assert re.search(r"^\s+user\s", p.stdout, re.M) and re.search(r"^\s+token\s", p.stdout, re.M)


def test_changes_are_audited(tmp_path):
    """Every user and token change made with the CLI is in the audit trail
    (actor cli:<login>), failures too, and the trail verifies."""
    data = tmp_path / "data"
    assert add_user(data, "alice", "operator").returncode == 0
    assert add_user(data, "alice", "operator").returncode == 1  # exists: a failed attempt
    assert run("user", "disable", "alice", data=data).returncode == 0
    assert run("user", "enable", "alice", data=data).returncode == 0
    p = run("token", "create", "--user", "alice", "--name", "scada", data=data)
    assert p.returncode == 0, p.stderr
    assert run("token", "revoke", "1", data=data).returncode == 0
    import sqlite3

    db = sqlite3.connect(os.path.join(data, "audit.db"))
    rows = db.execute("SELECT actor, action, object, outcome FROM audit ORDER BY id").fetchall()
    db.close()
    assert [(r[1], r[3]) for r in rows] == [
        ("user_add", "ok"),
        ("user_add", "failed"),
        ("user_disable", "ok"),
        ("user_enable", "ok"),
        ("token_create", "ok"),
        ("token_revoke", "ok"),
    ], rows
    assert all(r[0].startswith("cli:") for r in rows), rows
    assert rows[4][2] == "scada (user alice)", rows
    v = run("audit", "verify", data=data)
    assert v.returncode == 0 and "6 records" in v.stdout, v.stdout + v.stderr
    # the token's secret is in no file of the data directory
    token = p.stdout.strip()
    assert token.encode() not in all_bytes(data)
