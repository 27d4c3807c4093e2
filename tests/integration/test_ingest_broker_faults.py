"""Kafka faults lose and double nothing: offset commits that fail with
REQUEST_TIMED_OUT, with NOT_COORDINATOR and at the transport level (the
group coordinator's broker down while a close commits), then brokers going
down and up while events are produced and consumed; at the end the
sendable records equal the production per (customer, dimension, hour) and
no close is left unconfirmed.

A commit that times out but was in fact applied cannot be made with the mock
cluster (it fails a request without applying it), so it is emulated by a
crash right after a successful Kafka commit (METERD_FAULT=
ingest.after_kafka_commit): the ledger does not know the outcome, and the
restart must find the commit in Kafka and confirm the close (not count it
again)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class Writer:
    """Events keyed by customer, each customer pinned to one partition."""

    def __init__(self, bootstrap, seed):
        self.producer = H.Producer(bootstrap)
        self.gen = H.EventGen(seed, customers=24, prefix="b")

    def batch(self, hour, n, partitions=None):
        for _ in range(n):
            key, value = self.gen.one(hour)
            p = int(key.split("-")[1]) % H.PARTITIONS
            if partitions is not None and p not in partitions:
                continue
            self.producer.send(key, value, partition=p)
        self.producer.flush()


def closes(inst):
    return [ln for ln in inst.log_text().splitlines() if "ingest: closed " in ln]


def main(h):
    hours = H.Hours()
    mock = h.mock(brokers=3)
    cfg, ledger = h.write_config("faults", mock, H.lateness_for(hours.ago(2)))
    inst = h.meterd("faults", cfg, ledger).start()
    inst.wait_log("assigned ", 60)
    coordinator, leaders = H.cluster_layout(mock.bootstrap, h.group)
    H.log("coordinator broker %s, leaders %s" % (coordinator, leaders))
    w = Writer(mock.bootstrap, seed=31)

    def close_with(hour, what, partitions=None):
        before = len(closes(inst))
        w.batch(hour, 300, partitions)
        H.wait_until(lambda: len(closes(inst)) > before, 60, "a close after %s" % what,
                     detail=inst.tail)
        line = closes(inst)[-1]
        H.log("%s: %s" % (what, line.split("ingest: ", 1)[1]))
        return line

    # Commits failing with Kafka errors. librdkafka may retry some of them
    # itself; enough errors are queued that the close's commit sees one.
    mock.control("errors OffsetCommit 5 REQUEST_TIMED_OUT")
    timed_out = close_with(hours.ago(5), "REQUEST_TIMED_OUT")
    mock.control("errors OffsetCommit 5 NOT_COORDINATOR")
    close_with(hours.ago(4), "NOT_COORDINATOR")
    # Transport: the coordinator is gone while the close commits.
    mock.control("broker-down %d" % coordinator)
    reachable = {p for p, b in leaders.items() if b != coordinator}
    close_with(hours.ago(3), "coordinator down", reachable)
    time.sleep(2)
    mock.control("broker-up %d" % coordinator)
    H.check("(commit pending)" in timed_out,
            "a commit answered REQUEST_TIMED_OUT did not leave its close pending:\n  " +
            timed_out)
    # A commit that works covers every earlier pending close.
    close_with(hours.ago(2), "commits healthy again")
    H.wait_until(lambda: H.LedgerView(ledger).pending_parts == 0, 30,
                 "the failed commits' closes to be confirmed by a later commit",
                 detail=lambda: H.LedgerView(ledger).parts)

    # Brokers down and up while events flow (older hours: they fold into
    # the next open hour).
    stop = threading.Event()
    errors = []

    def produce():
        try:
            while not stop.is_set():
                w.batch(hours.ago(3), 40)
                time.sleep(0.1)
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    other = next(b for b in sorted(set(leaders.values())) if b != coordinator)
    for broker in (other, coordinator, other):
        time.sleep(2)
        mock.control("broker-down %d" % broker)
        time.sleep(3)
        mock.control("broker-up %d" % broker)
    time.sleep(2)
    stop.set()
    t.join(60)
    H.check(not errors, "producer failed: %r" % errors)
    H.check(inst.alive(), "meterd died during broker faults:\n" + inst.tail())
    inst.term()

    # A commit applied by Kafka whose outcome the ledger never learned.
    h.write_config("faults", mock, H.lateness_for(hours.ago(1)), ledger=ledger)
    inst.start(fault="ingest.after_kafka_commit")
    rc = inst.wait(60)
    H.check(rc == -9, "METERD_FAULT=ingest.after_kafka_commit did not fire (exit %s)\n%s" %
            (rc, inst.tail()))
    inst.start()
    summary = H.settle(mock.bootstrap, [ledger], 90)
    H.log("settled: %s" % summary)
    confirmed = rolled = 0
    for line in inst.log_text().splitlines():
        if "settled unknown commits:" in line:
            words = line.split("settled unknown commits:", 1)[1].split()
            confirmed += int(words[0])
            rolled += int(words[3])
    H.check(confirmed >= 1 and rolled == 0,
            "after a crash behind a landed commit, the restart confirmed %d and rolled back %d "
            "close(s); expected it to confirm them all:\n%s" % (confirmed, rolled, inst.tail()))
    inst.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("broker_faults").run(main)
