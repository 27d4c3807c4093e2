"""`meterd replay` never presents a partial range as complete.

Two hours are closed on partition 1; then the partition grows past what
the cluster keeps (the embedded mock cluster deletes all but the newest
~5 MB, as retention would), so the offsets that fed those hours are gone.
Replaying the second hour reports a gap -- how many offsets are missing
and where the log starts now -- and exits 3; replaying the first hour,
which no earlier close bounds, reports it as unbounded. Neither bills a
correction or presents the shortfall as over-billing, and the hours of an
untouched partition still audit clean."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

FLOODED, QUIET = 1, 6


def replay(cfg, hour, *extra):
    r = subprocess.run([H.BIN, "replay", "--config", cfg, "--hours", hour, *extra],
                       capture_output=True, text=True, timeout=120)
    H.check(r.returncode in (0, 3), "meterd replay exited %d: %s" % (r.returncode, r.stderr))
    return r.returncode, r.stdout


def produce(bootstrap, hour, n, prefix):
    p = H.Producer(bootstrap)
    for i in range(n):
        for part in (FLOODED, QUIET):
            c = "%s-%d" % (prefix, part)
            p.send(c, H.event_json(c, "api_calls", "1", hour + i * 1000, "%s-%d-%d" %
                                   (prefix, part, i)), partition=part)
    p.flush()
    p.close()


def main(h):
    hours = H.Hours()
    mock = h.mock()
    h4, h3 = hours.ago(4), hours.ago(3)
    produce(mock.bootstrap, h4, 50, "early")
    cfg, ledger = h.write_config("gap", mock, H.lateness_for(h4))
    inst = h.meterd("gap", cfg, ledger).start()
    H.wait_until(lambda: {p for _, p, hr, _ in H.LedgerView(ledger).closes if hr == h4} >=
                 {FLOODED, QUIET} or None, 60, "hour %s to close" % H.iso_hour(h4))
    inst.term()
    produce(mock.bootstrap, h3, 50, "late")
    cfg, ledger = h.write_config("gap", mock, H.lateness_for(h3))
    inst.start()
    H.wait_until(lambda: {p for _, p, hr, _ in H.LedgerView(ledger).closes if hr == h3} >=
                 {FLOODED, QUIET} or None, 60, "hour %s to close" % H.iso_hour(h3))

    rc, out = replay(cfg, H.iso_hour(h3))
    H.check(rc == 0 and "no difference" in out, "before the flood (exit %d):\n%s" % (rc, out))

    # Grow partition 1 past what the cluster keeps.
    p = H.Producer(mock.bootstrap)
    pad = "x" * 1000
    for i in range(8000):
        p.send("flood", '{"customer":"flood","dimension":"api_calls","quantity":1,'
               '"note":"%s"}' % pad, partition=FLOODED)
    p.flush()
    p.close()
    H.wait_until(lambda: H.committed_offsets(mock.bootstrap, h.group)[1][FLOODED] >= 8100 or None,
                 30, "the flood to reach the log")

    rc, out = replay(cfg, H.iso_hour(h3), "--submit-corrections")
    H.log("replay of the deleted hour:\n" + out)
    H.check(rc == 3, "a replay over deleted offsets exited %d, not 3:\n%s" % (rc, out))
    H.check("usage[%d]: GAP:" % FLOODED in out and "were deleted" in out,
            "the gap is not reported:\n%s" % out)
    H.check("correction run" not in out, "a correction was billed over a gap:\n%s" % out)
    H.check("no verdict" in out and "billed too much" not in out,
            "the shortfall the gap causes is presented as over-billing:\n%s" % out)
    H.check(any(line.startswith("usage[%d]" % FLOODED) and line.rstrip().endswith("gap")
                for line in out.splitlines()), "the partition row does not say gap:\n%s" % out)
    H.check(any(line.startswith("usage[%d]" % QUIET) and line.rstrip().endswith("complete")
                for line in out.splitlines()), "the quiet partition is not complete:\n%s" % out)

    rc, out = replay(cfg, H.iso_hour(h4))
    H.check(rc == 3 and "usage[%d]: INCOMPLETE" % FLOODED in out,
            "the first hour (no earlier close) is not reported incomplete:\n%s" % out)
    rc, out = replay(cfg, "%s..%s" % (H.iso_hour(h4), H.iso_hour(h3)), "--partitions",
                     str(QUIET))
    H.check(rc == 0 and "no difference" in out, "the quiet partition does not audit clean:\n%s"
            % out)
    inst.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("replay-gap").run(main)
