"""`meterd replay --hours` over closed hours, while meterd runs.

With the config that billed the hours it finds no difference, and its
recomputed values equal this test's own pass over the produced events with
the pipeline's rules: one dimension per aggregation (sum, count, max,
latest), repeated event ids dropped (events.dedupe), invalid events left
out, and late events -- produced after their hour closed -- counted in the
next open hour (the effective hour), not in their own.

Then the wrong-quantity incident: the billing config read the quantity
from a field a producer bug filled wrongly (twice the truth for one
customer, half for another). Replayed with the fixed config, exactly those
customers' sum, max and latest rows differ, by the amounts the bug caused;
counts do not. --customer and --partitions narrow the comparison.
--submit-corrections bills the shortfall, and the Metering emulator then
holds per (customer, dimension) the billed usage plus exactly the missing
units; the over-billed rows stay listed, never sent. The same replay run
again bills nothing more."""
import calendar
import collections
import csv
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

DIMS = (("api", "sum"), ("calls", "count"), ("peak", "max"), ("seats", "latest"))
# customer -> (partition, factor of the buggy field)
CUSTOMERS = {"cust-over": (0, 2.0), "cust-under": (2, 0.5), "cust-fine": (5, 1.0),
             "cust-fine-2": (0, 1.0)}


def write_config(h, name, mock, lateness, ledger, quantity_field, endpoint):
    path, ledger = e2e.write_config(h, name, mock, lateness, endpoint=endpoint, ledger=ledger)
    with open(path) as f:
        config = json.load(f)
    config["products"][0]["dimensions"] = [
        {"name": d, "aggregation": a, "rounding": "up"} for d, a in DIMS]
    config["events"] = {"quantity_field": quantity_field, "dedupe": True}
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


class Workload:
    """The events produced, as (partition, customer, dimension, quantity,
    ts, id, phase); phase 2 events are produced after phase 1's hour closed."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.events = []
        self.n = 0

    def add(self, hour, count, phase):
        for _ in range(count):
            c = self.rng.choice(sorted(CUSTOMERS))
            d = DIMS[self.rng.randrange(len(DIMS))][0]
            q = self.rng.randint(1, 40) * 2  # even: half of it is exact
            ts = hour + self.rng.randrange(H.HOUR_MS - 60000)
            self.n += 1
            self.events.append((CUSTOMERS[c][0], c, d, q, ts, "ev-%d" % self.n, phase))
            if self.rng.random() < 0.1:  # a producer retry: same id, sent again
                self.events.append(self.events[-1])

    def produce(self, bootstrap, phase):
        p = H.Producer(bootstrap)
        for part, c, d, q, ts, eid, ph in self.events:
            if ph != phase:
                continue
            buggy = q * CUSTOMERS[c][1]
            ts_text = H.event_json(c, d, q, ts, eid)  # the valid shape, then the extra field
            p.send(c, ts_text[:-1] + ',"quantity_v1":%s}' % repr(buggy).rstrip("0").rstrip("."),
                   partition=part)
        # Events no config can bill: not counted by the replay either.
        p.send("junk", '{"customer":"cust-fine","dimension":"nope","quantity":1}', partition=5)
        p.flush()
        p.close()


def truth(events, closed, field):
    """{(customer, dimension, hour): value} from the events by the pipeline's
    rules; `closed` maps phase -> hours already closed when it was produced."""
    agg = dict(DIMS)
    fold, seen = H.OnePass(), set()
    for part, c, d, q, ts, eid, phase in events:
        if field == "quantity_v1":
            q = q * CUSTOMERS[c][1]
        own = H.hour_floor(ts)
        hour = own
        while hour in closed[phase]:
            hour += H.HOUR_MS
        if hour == own:  # dedupe checks events of their own hour only
            if (part, c, d, own, eid) in seen:
                continue
            seen.add((part, c, d, own, eid))
        fold.add((c, d, hour), agg[d], q, ts)
    return fold.values


def replay(cfg, hours, *extra, fmt="json"):
    r = subprocess.run([H.BIN, "replay", "--config", cfg, "--hours", hours, "--format", fmt,
                        *extra], capture_output=True, text=True, timeout=120)
    H.check(r.returncode in (0, 3), "meterd replay %s exited %d: %s" %
            (" ".join(extra), r.returncode, r.stderr))
    H.check("Traceback" not in r.stderr and "ERROR" not in r.stderr, r.stderr)
    return r.returncode, r.stdout, r.stderr


def parse_hour(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) * 1000


def num(text):
    return float(text)


def wait_closed(ledger, hour, parts):
    def closed():
        got = {p for _, p, hr, _ in H.LedgerView(ledger).closes if hr == hour}
        return parts <= got or None
    H.wait_until(closed, 60, "partitions %s to close %s" % (sorted(parts), H.iso_hour(hour)))


def wait_accepted(em, want, what):
    last = [None]

    def done():
        last[0] = e2e.diff_counters("accepted units", want, e2e.accepted_units(em))
        return not last[0]

    H.wait_until(done, 90, what, interval=0.5, detail=lambda: "\n".join(last[0] or []))


def per_key(values):
    out = collections.Counter()
    for (c, d, _), v in values.items():
        out[(c, d)] += v
    return out


def main(h):
    e2e.use_credentials()
    hours = H.Hours()
    mock = h.mock()
    ledger = h.path("audit.db")
    h3, h2 = hours.ago(3), hours.ago(2)
    parts = {p for p, _ in CUSTOMERS.values()}
    em_cfg = write_config(h, "em", mock, "5m", None, "quantity", "http://127.0.0.1:1")
    em = e2e.Emulator(h, em_cfg)
    w = Workload(int(os.environ.get("METERD_AUDIT_SEED", "11")))
    w.add(h3, 300, phase=1)
    w.produce(mock.bootstrap, phase=1)
    billing = write_config(h, "billing", mock, H.lateness_for(h3), ledger, "quantity_v1", em.url)
    inst = h.meterd("billing", billing, ledger).start()
    wait_closed(ledger, h3, parts)
    inst.term()

    w.add(h3, 60, phase=2)  # late: their hour is closed
    w.add(h2, 300, phase=2)
    w.produce(mock.bootstrap, phase=2)
    billing = write_config(h, "billing", mock, H.lateness_for(h2), ledger, "quantity_v1", em.url)
    inst.start()
    wait_closed(ledger, h2, parts)
    closed = {1: set(), 2: {h3}}
    want = truth(w.events, closed, "quantity_v1")
    wait_accepted(em, per_key(want), "the emulator to accept what the billing config counted")

    span = "%s..%s" % (H.iso_hour(h3), H.iso_hour(h2))
    rc, out, err = replay(billing, span)
    H.check(rc == 0 and json.loads(out) == [], "the audit with the billing config found "
            "differences (exit %d):\n%s\n%s" % (rc, out, err))
    rc, out, _ = replay(billing, span, fmt="table")
    H.check("no difference" in out and "complete" in out, "table summary:\n%s" % out)

    late = sum(1 for e in w.events if e[6] == 2 and H.hour_floor(e[4]) == h3)
    H.check(late > 0, "the workload has no late events")
    rc, out, _ = replay(billing, span, "--all")
    rows = json.loads(out)
    got = {(r["customer"], r["dimension"], parse_hour(r["hour"])): num(r["recomputed"])
           for r in rows}
    H.check(got == {k: float(v) for k, v in want.items()},
            "recomputed values differ from one pass over the events:\n%s" %
            "\n".join("%s: replay %s, events %s" % (k, got.get(k), want.get(k))
                      for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)))
    H.check(all(num(r["billed"]) == num(r["recomputed"]) for r in rows), "billed != recomputed")
    H.log("audit clean over %d rows (%d late events folded into the next hour)" %
          (len(rows), late))

    # The incident: the fixed config reads the right field.
    fixed = write_config(h, "fixed", mock, H.lateness_for(h2), ledger, "quantity", em.url)
    rc, out, err = replay(fixed, span)
    H.check(rc == 3, "the replay with the fixed config exited %d, not 3:\n%s" % (rc, err))
    rows = json.loads(out)
    right = truth(w.events, closed, "quantity")
    expect = {k: v - want[k] for k, v in right.items() if v != want.get(k)}
    diff = {(r["customer"], r["dimension"], parse_hour(r["hour"])): num(r["difference"])
            for r in rows}
    H.check(diff == expect, "differences:\n got %s\nwant %s" % (sorted(diff.items()),
                                                               sorted(expect.items())))
    H.check({c for c, _, _ in diff} == {"cust-over", "cust-under"} and
            "calls" not in {d for _, d, _ in diff}, "unexpected rows: %s" % sorted(diff))
    H.check(any(v < 0 for v in diff.values()) and any(v > 0 for v in diff.values()),
            "both signs expected: %s" % diff)
    rc, out, _ = replay(fixed, span, "--customer", "cust-under")
    H.check({r["customer"] for r in json.loads(out)} == {"cust-under"}, out)
    rc, out, _ = replay(fixed, span, "--partitions", "5")
    H.check(rc == 0 and json.loads(out) == [], "partition 5 (cust-fine) differs: %s" % out)

    # Fix forward: the fixed config runs, the shortfall is billed.
    inst.term()
    inst = h.meterd("fixed", fixed, ledger).start()
    rc, out, err = replay(fixed, span, "--submit-corrections", fmt="table")
    H.log("meterd replay --submit-corrections:\n" + out)
    H.check(rc == 3 and "billed %d correction(s)" % sum(1 for v in expect.values() if v > 0)
            in out, "exit %d:\n%s\n%s" % (rc, out, err))
    H.check("billed too much" in out, "over-billing not listed:\n%s" % out)
    final = per_key({k: max(v, right[k]) for k, v in want.items()})
    wait_accepted(em, final, "the emulator to accept the corrections")
    listed = subprocess.run([H.BIN, "records", "list", "--config", fixed, "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    corrections = [r for r in json.loads(listed.stdout) if r["corrects"]]
    sources = {time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(k[2] // 1000))
               for k, v in expect.items() if v > 0}
    H.check(corrections and {r["customer"] for r in corrections} == {"cust-under"} and
            set(",".join(r["corrects"] for r in corrections).split(",")) == sources,
            "records list does not show the corrections and their source hours %s:\n%s" %
            (sorted(sources), listed.stdout))

    invoices = h.path("invoices.csv")
    with open(invoices, "w") as f:
        f.write("customer,dimension,agreement_id,invoice_id,unit_price\n"
                "cust-over,api,agmt-1,\"inv,2026-11\",0.01\n"
                "cust-over,,agmt-1,\"inv,2026-11\",\n")
    refunds = h.path("refunds.csv")
    rc, out, err = replay(fixed, span, "--submit-corrections", "--refund-file", refunds,
                          "--invoices", invoices)
    rows = json.loads(out)
    H.check(rc == 3 and "correction" not in err.split("billed too much")[0] and
            all(num(r["difference"]) < 0 for r in rows),
            "the second run billed again or found a shortfall (exit %d):\n%s\n%s" %
            (rc, out, err))
    H.check({(r["customer"], r["dimension"], parse_hour(r["hour"])) for r in rows} ==
            {k for k, v in expect.items() if v < 0}, "over-billed rows changed: %s" % out)
    with open(refunds, newline="") as f:
        lines = {(r["customer"], r["dimension"]): r for r in csv.DictReader(f)}
    over = collections.Counter()
    for (c, d, _), v in expect.items():
        if v < 0:
            over[(c, d)] -= v
    H.check(set(lines) == set(over), "refund lines %s, over-billed %s" % (sorted(lines),
                                                                        sorted(over)))
    for k, units in over.items():
        r = lines[k]
        H.check(num(r["units"]) == units and r["agreementId"] == "agmt-1" and
                r["originalInvoiceId"] == "inv,2026-11" and r["currencyCode"] == "USD" and
                r["adjustmentReasonCode"] == "INCORRECT_METERING", "refund line %s" % r)
        amount = "%g" % (units * 0.01) if k[1] == "api" else ""
        H.check(r["adjustmentAmount"] == amount, "amount %r, want %r (%s)" %
                (r["adjustmentAmount"], amount, r))
    stats = em.stats()
    H.check(stats["records"].get("duplicate", 0) == 0, "DuplicateRecord: %s" % stats)
    H.check(e2e.accepted_units(em) == final, "the second run changed what AWS holds")
    inst.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("replay-audit").run(main)
