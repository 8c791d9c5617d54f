"""`airlock audit verify|list|export` on a trail written by this test with
Python's sqlite3 and hashlib, following docs/audit.md to the letter (which
also proves the format is documented precisely enough to re-implement):
verify accepts it and prints the same last hash; list and export show the
records; each kind of tampering made with SQL (triggers dropped first) makes
verify exit 1 naming the first bad record and the damage."""

import csv
import datetime
import hashlib
import io
import os
import re
import sqlite3

import pytest

import airlock_e2e as e2e

# The schema of docs/audit.md.
SCHEMA = """
CREATE TABLE audit (
  id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, time TEXT NOT NULL,
  actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL,
  old_value TEXT NOT NULL, new_value TEXT NOT NULL, reason TEXT NOT NULL,
  outcome TEXT NOT NULL, details TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records cannot be changed'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records cannot be deleted'); END;
"""
TEXT_FIELDS = ("actor", "action", "object", "old_value", "new_value", "reason", "outcome",
               "details")
T0_NS = 1795000000 * 10**9  # 2026-11-18T11:06:40Z
COUNT = 20


def iso_time(ns):
    secs, frac = divmod(ns, 10**9)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def encode(rec):
    """The canonical encoding: id and time_ns as 8-byte big-endian signed,
    then time and the eight texts, each a 4-byte big-endian length + UTF-8."""
    out = rec["id"].to_bytes(8, "big", signed=True) + rec["time_ns"].to_bytes(8, "big", signed=True)
    for name in ("time",) + TEXT_FIELDS:
        b = rec[name].encode()
        out += len(b).to_bytes(4, "big") + b
    return out


def record_hash(prev_hex, rec):
    return hashlib.sha256(bytes.fromhex(prev_hex) + encode(rec)).hexdigest()


def sample_records():
    recs = []
    for i in range(1, COUNT + 1):
        ns = T0_NS + i * 1_500_000_000
        recs.append({
            "id": i, "time_ns": ns, "time": iso_time(ns),
            "actor": "system" if i in (1, COUNT) else ("alice" if i % 2 else "bob"),
            "action": {1: "start", COUNT: "stop"}.get(i, "write" if i % 3 else "login"),
            "object": f"acme/plant1/area/line/cell/valve{i % 4}" if i % 3 else "",
            "old_value": str(i) if i % 3 else "",
            "new_value": str(i + 1) if i % 3 else "",
            "reason": 'maintenance, "urgent"' if i == 5 else "",
            "outcome": "ok" if i != 7 else "refused",
            "details": "- max: 10\n+ max: 20" if i == 9 else "",
        })
    return recs


def write_trail(data_dir, recs):
    os.makedirs(data_dir, exist_ok=True)
    db = sqlite3.connect(os.path.join(data_dir, "audit.db"))
    db.executescript(SCHEMA)
    prev = "00" * 32
    for r in recs:
        r["prev_hash"] = prev
        r["hash"] = record_hash(prev, r)
        db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   [r["id"], r["time_ns"], r["time"], *(r[f] for f in TEXT_FIELDS),
                    r["prev_hash"], r["hash"]])
        prev = r["hash"]
    db.commit()
    db.close()
    return prev


def tamper(data_dir, sql):
    db = sqlite3.connect(os.path.join(data_dir, "audit.db"))
    db.executescript("DROP TRIGGER IF EXISTS audit_no_update;"
                     "DROP TRIGGER IF EXISTS audit_no_delete;" + sql)
    db.commit()
    db.close()


def audit(*args):
    return e2e.run_airlock(["audit", *args])


@pytest.fixture
def trail(tmp_path):
    data = str(tmp_path / "data")
    recs = sample_records()
    last = write_trail(data, recs)
    return data, recs, last


def test_verify_intact_prints_count_and_last_hash(trail):
    data, _, last = trail
    r = audit("verify", "--data", data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"intact: {COUNT} records" in r.stdout
    assert f"last hash: {last}" in r.stdout
    assert r.stderr == ""


def test_list_table_and_filters(trail):
    data, recs, _ = trail
    r = audit("list", "--data", data)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ID") and "TIME (UTC)" in lines[0]
    assert len(lines) == 1 + COUNT
    assert lines[1].split()[0] == "1" and lines[-1].split()[0] == str(COUNT)
    assert "2026-11-18T11:06:41.500Z" in lines[1]  # record 1, UTC, ms
    assert "refused" in lines[7]
    r = audit("list", "--data", data, "--actor", "alice", "--action", "write", "--limit", "3")
    ids = [int(line.split()[0]) for line in r.stdout.splitlines()[1:]]
    want = [x["id"] for x in recs if x["actor"] == "alice" and x["action"] == "write"][-3:]
    assert ids == want
    r = audit("list", "--data", data, "--since", iso_time(recs[9]["time_ns"]), "--limit", "2")
    assert [int(line.split()[0]) for line in r.stdout.splitlines()[1:]] == [10, 11]
    r = audit("list", "--data", data, "--actor", "nobody")
    assert "(no records)" in r.stdout
    r = audit("list", "--data", data, "--limit", "0")
    assert r.returncode == 2 and "--limit" in r.stderr
    # list opened the trail with the library: it must still verify.
    assert audit("verify", "--data", data).returncode == 0


def unformula(text):
    """docs/audit.md: a field a spreadsheet would take for a formula is
    exported with a leading ' (shown as text); strip it to compare."""
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def test_export_csv(trail, tmp_path):
    data, recs, _ = trail
    out = tmp_path / "audit.csv"
    r = audit("export", "--data", data, "--csv", str(out))
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert raw.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    assert len(rows) == COUNT
    for row, rec in zip(rows, recs):
        assert int(row["id"]) == rec["id"] and int(row["time_ns"]) == rec["time_ns"]
        for f in ("time",) + TEXT_FIELDS + ("prev_hash", "hash"):
            assert unformula(row[f]) == rec[f], f
            if row[f] != rec[f]:  # only texts a spreadsheet would evaluate get the mark
                assert rec[f][:1] in "=+-@\t\r", (f, rec[f])
    r = audit("export", "--data", data, "--csv", "-", "--action", "stop")
    assert r.returncode == 0
    assert len(list(csv.reader(io.StringIO(r.stdout, newline="")))) == 2
    assert audit("export", "--data", data).returncode == 2  # --csv is required


DAMAGE = [
    ("modified", "UPDATE audit SET new_value = '999' WHERE id = 7;", 7),
    ("modified", "UPDATE audit SET time = '2026-01-01T00:00:00.000000000Z' WHERE id = 12;", 12),
    ("deleted", "DELETE FROM audit WHERE id = 7;", 7),
    ("deleted", "DELETE FROM audit WHERE id IN (1, 2);", 1),
    ("reordered",
     "UPDATE audit SET id = -1 WHERE id = 7; UPDATE audit SET id = 7 WHERE id = 8;"
     "UPDATE audit SET id = 8 WHERE id = -1;", 7),
]


@pytest.mark.parametrize("kind,sql,bad_id", DAMAGE)
def test_verify_names_the_first_bad_record(trail, kind, sql, bad_id):
    data, _, _ = trail
    tamper(data, sql)
    r = audit("verify", "--data", data)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(rf"DAMAGED: record {bad_id}: {kind}:", r.stdout), r.stdout


def test_verify_names_an_inserted_record(trail):
    """A forged record with a correct hash over its own fields but linked to
    nothing: records from 7 on move up by one to make room."""
    data, recs, _ = trail
    forged = dict(recs[6], actor="mallory", new_value="100", prev_hash="ab" * 32)
    forged["hash"] = record_hash(forged["prev_hash"], forged)
    tamper(data, "UPDATE audit SET id = -id WHERE id >= 7;"
                 "UPDATE audit SET id = 1 - id WHERE id < 0;")
    db = sqlite3.connect(os.path.join(data, "audit.db"))
    db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
               [forged["id"], forged["time_ns"], forged["time"], *(forged[f] for f in TEXT_FIELDS),
                forged["prev_hash"], forged["hash"]])
    db.commit()
    db.close()
    r = audit("verify", "--data", data)
    assert r.returncode == 1
    assert "DAMAGED: record 7: inserted:" in r.stdout, r.stdout


def test_triggers_refuse_edits(trail):
    data, _, _ = trail
    db = sqlite3.connect(os.path.join(data, "audit.db"))
    for sql in ("UPDATE audit SET actor = 'x' WHERE id = 1", "DELETE FROM audit WHERE id = 1"):
        with pytest.raises(sqlite3.DatabaseError, match="audit records cannot be"):
            db.execute(sql)
    db.close()


def test_usage_and_missing_trail(tmp_path):
    r = audit("--help")
    assert r.returncode == 0 and "Usage: airlock audit verify" in r.stdout
    assert "audit" in e2e.run_airlock(["--help"]).stdout
    r = audit("verify", "--data", str(tmp_path))
    assert r.returncode == 1 and "no audit trail" in r.stderr
    assert not os.path.exists(tmp_path / "audit.db")  # verify never creates one
    assert audit("frobnicate").returncode == 2
    assert audit().returncode == 2
