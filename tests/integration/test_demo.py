"""`meterd demo` (no terminal) bills its whole workload: it exits 0, every
dimension line says ok with accepted units == expected, every rejection
reason counts what was generated, DuplicateRecord answers are 0, and the
ledger it leaves behind, read by `meterd records list`, holds only accepted
records whose quantities add up per dimension to the accepted units the
demo printed. `--customers 50` sizes the workload; an out-of-range value is
refused with exit 2."""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

DEMO_DIMENSIONS = ("api_calls", "data_gb", "requests")


def run_demo(args):
    started = time.monotonic()
    r = subprocess.run([H.BIN, "demo"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=170)
    H.log("meterd demo %s: exit %d in %.0f s" % (" ".join(args), r.returncode,
                                                 time.monotonic() - started))
    return r


def check_summary(r, customers):
    """Checks the demo's summary; returns the per-dimension accepted units,
    the directory it names and the number of records accepted."""
    out = r.stdout
    where = "\n--- stdout ---\n%s\n--- stderr ---\n%s" % (out, r.stderr[-3000:])
    H.check(r.returncode == 0, "meterd demo exited %d%s" % (r.returncode, where))
    H.check("\r" not in out, "progress written with carriage returns without a terminal" + where)
    m = re.search(r"^Workload: (\d+) customers, 3 dimensions", out, re.M)
    H.check(m and int(m.group(1)) == customers,
            "expected a workload of %d customers%s" % (customers, where))

    dims = {}
    for d, acc, exp, verdict in re.findall(r"^  (\w+) +(-?\d+) +(-?\d+) (ok|MISMATCH)$", out,
                                           re.M):
        dims[d] = (int(acc), int(exp), verdict)
    H.check(set(dims) == set(DEMO_DIMENSIONS),
            "dimension lines for %s expected, found %s%s" % (DEMO_DIMENSIONS, sorted(dims), where))
    for d, (acc, exp, verdict) in dims.items():
        H.check(verdict == "ok" and acc == exp and acc > 0,
                "%s: accepted %d, expected %d, %s%s" % (d, acc, exp, verdict, where))

    m = re.search(r"^  rejected +(\d+) ", out, re.M)
    H.check(m, "no `rejected` line" + where)
    rejected = int(m.group(1))
    reasons = re.findall(r"^    (\w+) +(\d+) \(generated (\d+)\)$", out, re.M)
    H.check(reasons, "no rejection reasons listed" + where)
    for reason, got, generated in reasons:
        H.check(int(got) == int(generated),
                "%s: %s rejected, %s generated%s" % (reason, got, generated, where))
    H.check(sum(int(g) for _, g, _ in reasons) == rejected,
            "rejections by reason do not add up to %d%s" % (rejected, where))

    m = re.search(r"^  records accepted +(\d+) \(DuplicateRecord answers: (\d+)\)$", out, re.M)
    H.check(m and int(m.group(1)) > 0, "no `records accepted` line" + where)
    H.check(int(m.group(2)) == 0, "DuplicateRecord answers: %s%s" % (m.group(2), where))
    H.check("Every total matches what was generated." in out, "no success line" + where)

    records = int(m.group(1))
    m = re.search(r"files in (/tmp/meterd-demo-\w+)", out)
    H.check(m, "the demo did not name its directory" + where)
    return {d: v[0] for d, v in dims.items()}, m.group(1), records


def check_ledger(directory, accepted_units, accepted_records):
    """The demo's ledger agrees with what the emulator accepted."""
    ledger = os.path.join(directory, "ledger.db")
    H.check(os.path.exists(ledger), "the demo left no ledger at %s" % ledger)
    rows = e2e.records_list(["--ledger", ledger], "json")
    statuses = collections.Counter(r["status"] for r in rows)
    H.check(set(statuses) == {"accepted"}, "demo ledger statuses: %s" % dict(statuses))
    H.check(len(rows) == accepted_records, "demo ledger has %d records, the demo printed %d "
            "accepted" % (len(rows), accepted_records))
    units = collections.Counter()
    for r in rows:
        units[r["dimension"]] += r["quantity"]
    H.check(dict(units) == accepted_units, "demo ledger units per dimension %s, printed %s" %
            (dict(units), accepted_units))
    with open(os.path.join(directory, "meterd.json")) as f:
        json.load(f)  # the config it names is valid JSON


def main(h):
    for args, customers in (([], 300), (["--customers", "50"], 50)):
        r = run_demo(args)
        units, directory, records = check_summary(r, customers)
        try:
            check_ledger(directory, units, records)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        H.log("demo with %d customers: %d records accepted, units %s" % (customers, records,
                                                                         units))
    r = subprocess.run([H.BIN, "demo", "--customers", "5"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    H.check(r.returncode == 2 and "--customers" in r.stderr,
            "meterd demo --customers 5: exit %d, stderr %r (expected 2 and a message)" %
            (r.returncode, r.stderr))


if __name__ == "__main__":
    if not H.BIN or not os.path.exists(H.BIN):
        H.skip("MTR_BIN is not set or meterd is not built")
    H.Harness("demo").run(main)
