"""`meterd records list`: filters, and table / CSV / JSON output that parse
back to the same records (RFC 4180 quoting, a JSON array of objects).

The sample ledger is written by `test_ledger_query --populate PATH` (see
tests/unit/test_ledger_query.c)."""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("MTR_BIN")
BUILD = os.environ.get("MTR_BUILD_DIR")


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def run(*args):
    return subprocess.run([BIN, "records", *args], capture_output=True, text=True, timeout=60)


def main():
    if not BIN or not os.path.exists(BIN):
        skip("MTR_BIN is not set or not built")
    populate = None
    for cand in (os.path.join(BUILD or "", "tests", "test_ledger_query"),
                 os.path.join(BUILD or "", "test_ledger_query")):
        if os.path.exists(cand):
            populate = cand
    if not populate:
        skip("test_ledger_query (which writes the sample ledger) is not built")
    probe = run("--help")
    if probe.returncode != 0 or "records list" not in probe.stdout:
        skip("this meterd has no `records` command")

    with tempfile.TemporaryDirectory() as tmp:
        ledger = os.path.join(tmp, "ledger.db")
        subprocess.run([populate, "--populate", ledger], check=True, timeout=60)

        # JSON: an array with every record and its fields.
        out = run("list", "--ledger", ledger, "--format", "json")
        assert out.returncode == 0, out.stderr
        recs = json.loads(out.stdout)
        assert isinstance(recs, list) and len(recs) == 4, recs
        by = {(r["customer"], r["dimension"], r["hour"]): r for r in recs}
        a10 = by[("cust-a", "api", "2026-11-26T10:00:00Z")]
        assert a10["status"] == "accepted" and a10["quantity"] == 2, a10
        assert a10["metering_record_id"] == "mrid-a10" and a10["attempts"] == 1, a10
        assert a10["usage"] == 1.5, a10
        b10 = by[('cust,"b"', "api", "2026-11-26T10:00:00Z")]
        assert b10["status"] == "parked" and b10["quantity"] == 0, b10
        assert b10["last_error"] == 'bad, "quoted"\nsecond line', b10
        a11 = by[("cust-a", "api", "2026-11-26T11:00:00Z")]
        assert a11["status"] == "pending_commit" and a11["quantity"] is None, a11
        for r in recs:
            assert r["scope"] == "prod-1", r

        # CSV: header plus rows that the csv module reads back identically.
        out = run("list", "--ledger", ledger, "--format", "csv")
        assert out.returncode == 0, out.stderr
        rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
        assert len(rows) == 4, rows
        crow = {(r["customer"], r["dimension"], r["hour"]): r for r in rows}
        b = crow[('cust,"b"', "api", "2026-11-26T10:00:00Z")]
        assert b["last_error"] == 'bad, "quoted"\nsecond line', b
        assert crow[("cust-a", "api", "2026-11-26T10:00:00Z")]["quantity"] == "2"
        assert crow[("cust-a", "api", "2026-11-26T11:00:00Z")]["quantity"] == ""

        # Filters.
        def ids(*flags):
            o = run("list", "--ledger", ledger, "--format", "json", *flags)
            assert o.returncode == 0, o.stderr
            return {(r["customer"], r["dimension"], r["hour"]) for r in json.loads(o.stdout)}

        assert len(ids("--customer", "cust-a")) == 3
        assert len(ids("--customer", "cust-a", "--dimension", "api")) == 2
        assert len(ids("--status", "pending_commit")) == 1
        assert len(ids("--from", "2026-11-26T11")) == 1
        assert len(ids("--to", "2026-11-26T10")) == 3
        assert len(ids("--from", "2026-11-26T10:30:00Z", "--to", "2026-11-26T10:59:59Z")) == 3
        assert len(ids("--to", "2026-11-26T11:00:00+01:00")) == 3
        assert len(ids("--to", "2026-11-26T10:59:59+01:00")) == 0
        assert len(ids("--from", "2026-11-26")) == 4

        # Table: a header and one aligned line per record.
        out = run("list", "--ledger", ledger)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert len(lines) == 5, lines
        assert lines[0].split()[:3] == ["id", "scope", "customer"], lines[0]
        col = lines[0].index("status")
        statuses = sorted(line[col:].split()[0] for line in lines[1:])
        assert statuses == ["accepted", "in_flight", "parked", "pending_commit"], statuses

        # Bad flags: exit 2 and a message naming the flag.
        for flags, word in ((["--from", "yesterday"], "--from"),
                            (["--status", "sent"], "--status"),
                            (["--format", "xml"], "--format"),
                            (["--bogus"], "--bogus"),
                            (["--from", "2026-11-26T12", "--to", "2026-11-26T10"], "after")):
            o = run("list", "--ledger", ledger, *flags)
            assert o.returncode == 2, (flags, o.returncode, o.stderr)
            assert word in o.stderr, (flags, o.stderr)
        o = run("list", "--format", "csv")
        assert o.returncode == 2 and "--ledger" in o.stderr, o.stderr
        o = run("list", "--ledger", os.path.join(tmp, "absent.db"))
        assert o.returncode == 1 and "no such file" in o.stderr, o.stderr
        assert not os.path.exists(os.path.join(tmp, "absent.db"))
    print("ok")


main()
