"""`meterd run` conserves usage: for every (customer, dimension) the sendable
ledger total equals what kcat produced (several hours, customers and
dimensions, decimals such as 0.25 that sum exactly), every closed hour's
records become sendable, a sendable record never changes afterwards (later
hours and late events of closed hours are produced, meterd is restarted:
the earlier records keep their quantity), the AWS integers of a key add up
to its total usage rounded by the dimension's rule, and the group's
committed offsets end at the end of every partition.

kcat is the producer: an implementation independent of meterd's own Kafka
code decides partitions and batching."""
import collections
import decimal
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def rounded(total_micro, rule):
    units = decimal.Decimal(total_micro) / 1000000
    if rule == "up":
        return math.ceil(units)
    if rule == "down":
        return math.floor(units)
    return None  # nearest: checked within half a unit


def main(h):
    hours = H.Hours()
    mock = h.mock()
    cfg, ledger = h.write_config("a", mock, H.lateness_for(hours.ago(3)))
    gen = H.EventGen(seed=11, customers=16, prefix="p1")

    # Phase 1, produced before meterd starts: hours -5 and -4.
    phase1 = gen.batch([hours.ago(5), hours.ago(4)], 3000)
    H.kcat_produce(h, mock.bootstrap, phase1)
    inst = h.meterd("a", cfg, ledger).start()
    summary = H.settle(mock.bootstrap, [ledger], 90)
    H.log("phase 1 settled: %s" % summary)
    view = H.LedgerView(ledger)
    check_hours = {r["hour"] for r in view.records}
    H.check(check_hours >= {hours.ago(5), hours.ago(4)},
            "records exist for hours %s, expected at least -5 and -4 (%s, %s)" %
            (sorted(map(H.iso_hour, check_hours)), H.iso_hour(hours.ago(5)),
             H.iso_hour(hours.ago(4))))
    snapshot = {r["id"]: r for r in view.records}
    H.check(all(r["status"] == 1 for r in snapshot.values()),
            "closed records not sendable: %s" %
            [r for r in snapshot.values() if r["status"] != 1][:5])

    # Phase 2 while it runs: later hours, plus late events of hour -5 that
    # must fold into an open hour instead of touching sendable records.
    gen2 = H.EventGen(seed=12, customers=16, prefix="p2")
    phase2 = gen2.batch([hours.ago(3), hours.ago(2)], 2000)
    phase2 += [gen2.one(hours.ago(5)) for _ in range(200)]
    H.kcat_produce(h, mock.bootstrap, phase2)

    # Restart (clean stop) with a frontier that lets every produced hour
    # close; what was sendable stays as it was.
    H.wait_until(lambda: H.LedgerView(ledger).parts.get(1, 0) > view.parts.get(1, 0), 60,
                 "a close of the phase-2 hours")
    inst.term()
    stats = H.stopped_line(inst.log_text())
    H.check(stats is not None, "no `stopped:` line after SIGTERM:\n" + inst.tail())
    h.write_config("a", mock, H.lateness_for(hours.ago(1)), ledger=ledger)
    inst.start()
    messages = H.read_topic(mock.bootstrap)
    summary = H.settle(mock.bootstrap, [ledger], 90, messages)
    H.log("phase 2 settled: %s" % summary)
    H.check(summary["valid_events"] == 5200,
            "read back %d valid events, produced 5200" % summary["valid_events"])

    after = {r["id"]: r for r in H.LedgerView(ledger).records}
    changed = []
    for rid, r in snapshot.items():
        a = after.get(rid)
        if not a or (a["micro"], a["aws"], a["status"], a["hour"]) != \
                (r["micro"], r["aws"], r["status"], r["hour"]):
            changed.append((r, a))
    H.check(not changed, "%d sendable record(s) changed after later closes, e.g. %s" %
            (len(changed), changed[:3]))
    H.check(len(after) > len(snapshot), "phase 2 added no records")

    # The AWS integers of a key add up to its total usage, rounded once.
    rules = dict(H.DIMENSIONS)
    usage = collections.Counter()
    units = collections.Counter()
    for r in after.values():
        usage[(r["customer"], r["dimension"])] += r["micro"]
        units[(r["customer"], r["dimension"])] += r["aws"]
    for key, total in usage.items():
        want = rounded(total, rules[key[1]])
        if want is None:
            H.check(abs(decimal.Decimal(units[key]) - decimal.Decimal(total) / 1000000) <= 0.5,
                    "%s: %d units for %d micro-units (nearest)" % (key, units[key], total))
        else:
            H.check(units[key] == want, "%s: %d units for %d micro-units, expected %d (%s)" %
                    (key, units[key], total, want, rules[key[1]]))

    inst.term()
    committed, ends = H.committed_offsets(mock.bootstrap, h.group)
    behind = {p: (committed[p][0], ends[p]) for p in ends if committed[p][0] != ends[p]}
    H.check(not behind, "committed offsets short of the partition ends (committed, end): %s"
            % behind)
    H.check(all(committed[p][1] for p in ends if ends[p] > 0),
            "a commit without close-log metadata: %s" % committed)


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("conservation").run(main)
