"""The whole billing job survives SIGKILLs with events and bills in flight:
kcat produces usage (keyed by customer, 30 customers x 3 dimensions x 3
past hours, integer quantities, some tagged) while `meterd run` is killed
again and again -- at the crash points ingest.after_ledger_commit and
ingest.after_kafka_commit (core/fault.h), at random moments and while the
ledger has records in flight to the emulator -- against
a separate `meterd emulator` that throttles, fails, delays and drops
answers now and then. At the end:

  - the units the emulator accepted per (customer, dimension), and per
    (customer, dimension, tags) from the usage allocations, equal what the
    topic holds;
  - the emulator answered DuplicateRecord to nothing;
  - every ledger record ends `accepted`, one per record the emulator holds.

Hours are opened to closing one at a time (the frontier, see e2e.py), so
that every step has a close for its crash point to hit; each crash point
must fire every time it is armed. METERD_E2E_SEED replays a schedule."""
import collections
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

# Per frontier (hours ago that may close): the runs, each ended by a crash
# point (METERD_FAULT), by a SIGKILL at a random moment (RANDOM) or by a
# SIGKILL as soon as the ledger shows records in flight to the emulator
# (IN_FLIGHT). A crash point comes first in its step: later runs of the
# step find nothing new to close, but the records of the step's close to send.
RANDOM, IN_FLIGHT = "random", "in_flight"
STEPS = ((4, ("ingest.after_ledger_commit", IN_FLIGHT)),
         (3, ("ingest.after_kafka_commit", RANDOM)),
         (2, ("ingest.after_ledger_commit", IN_FLIGHT, RANDOM)))
# After production stopped: closes the hour late events were folded into.
LAST_STEP = (1, ("ingest.after_kafka_commit",))
# Few attempts a pass, so that passes end with records left to send again.
EXTRA = {"emit": {"max_attempts": 4}}
FAULTS = ("--throttle-ratio", "0.1", "--error-ratio", "0.05", "--unprocessed-ratio", "0.05",
          "--drop-after-apply-ratio", "0.05", "--latency", "200")


class Production(threading.Thread):
    """kcat batches every few hundred milliseconds until stopped."""

    def __init__(self, h, bootstrap, work, rng):
        super().__init__(daemon=True)
        self.h, self.bootstrap, self.work, self.rng = h, bootstrap, work, rng
        self.stop_flag = threading.Event()
        self.batches = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_flag.is_set():
                H.kcat_produce(self.h, self.bootstrap, self.work.batch(self.rng.randint(20, 60)))
                self.batches += 1
                time.sleep(self.rng.uniform(0.1, 0.5))
        except Exception as e:  # reported by the test
            self.error = e


def main(h):
    seed = int(os.environ.get("METERD_E2E_SEED", random.randrange(1 << 30)))
    H.log("seed %d (METERD_E2E_SEED replays it)" % seed)
    rng = random.Random(seed)
    hours = H.Hours()
    e2e.use_credentials()
    mock = h.mock()
    em_cfg, _ = e2e.write_config(h, "emulator", mock, "1h")
    em = e2e.Emulator(h, em_cfg, FAULTS + ("--seed", str(seed % 100000)))
    cfg, ledger = e2e.write_config(h, "billing", mock, "1h", endpoint=em.url, extra=EXTRA)
    work = e2e.Workload(seed, [hours.ago(k) for k in (4, 3, 2)], customers=30)

    # Every (customer, dimension, hour) has usage before the first start.
    H.kcat_produce(h, mock.bootstrap, work.every_key())
    prod = Production(h, mock.bootstrap, work, rng)
    prod.start()

    inst = h.meterd("billing", cfg, ledger)
    fired = collections.Counter()

    def in_flight():
        return any(r["status"] == "in_flight" for r in e2e.ledger_rows(ledger))

    def run_step(ago, runs):
        e2e.write_config(h, "billing", mock, H.lateness_for(hours.ago(ago)), endpoint=em.url,
                         ledger=ledger, extra=EXTRA)
        for fault in runs:
            inst.start(fault=fault)
            if fault == IN_FLIGHT:
                H.wait_until(lambda: in_flight() or not inst.alive(), 40,
                             "records in flight", interval=0.02, detail=inst.tail)
                H.check(inst.alive(), "meterd died on its own (exit %s); see %s\n%s" %
                        (inst.returncode(), inst.log_path, inst.tail()))
                inst.kill()
            elif fault == RANDOM:
                inst.wait_log("assigned ", 40, "an assignment")
                time.sleep(rng.uniform(0.5, 4.0))
                H.check(inst.alive(), "meterd died on its own (exit %s); see %s\n%s" %
                        (inst.returncode(), inst.log_path, inst.tail()))
                inst.kill()
            else:
                rc = inst.wait(40)
                H.check(rc == -9, "meterd %s with METERD_FAULT=%s (a close was due); see %s\n%s"
                        % ("exited %s" % rc if rc is not None else "still runs after 40 s",
                           fault, inst.log_path, inst.tail()))
                fired[fault] += 1
            statuses = collections.Counter(r["status"] for r in e2e.ledger_rows(ledger))
            H.log("run %d (frontier %s): killed (%s); %d events produced; ledger %s; emulator "
                  "accepted %d record(s)" % (inst.starts, H.iso_hour(hours.ago(ago)), fault,
                                             len(work.sent), dict(statuses),
                                             em.stats()["records"]["success"]))
            H.check(prod.error is None, "production failed: %r" % prod.error)
            H.check(mock.alive(), "mock-kafka died")
            H.check(em.alive(), "the emulator died")

    for ago, runs in STEPS:
        run_step(ago, runs)
    prod.stop_flag.set()
    prod.join(60)
    H.check(prod.error is None, "production failed: %r" % prod.error)
    run_step(*LAST_STEP)
    H.log("%d events in %d kcat batches; crash points fired: %s" %
          (len(work.sent), prod.batches + 1, dict(fired)))

    ids, truth, truth_tags = e2e.topic_truth(mock.bootstrap)
    missing = set(work.sent) - set(ids)
    H.check(not missing, "%d events kcat reported sent are not in the topic (e.g. %s)" %
            (len(missing), sorted(missing)[:5]))
    twice = [i for i, n in ids.items() if n > 1]
    H.log("topic: %d events (%d written twice by producer retries), %d units" %
          (sum(ids.values()), len(twice), sum(truth.values())))

    # The last run finishes the job, with the emulator's faults still on.
    inst.start()
    e2e.wait_billed(em, ledger, truth, 120, truth_tags)
    stats = em.stats()
    records = em.records()
    H.check(records["duplicate_records"] == 0 and stats["records"]["duplicate"] == 0,
            "the emulator answered DuplicateRecord: %s" % stats)
    H.log("billed: %d records accepted, emulator stats %s" % (records["count"], stats))
    inst.term()
    em.stop()


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("billing-e2e").run(main)
