"""Rebalancing 1 -> 2 -> 3 instances and back (one group, a ledger file per
instance) while events are produced loses and doubles nothing: across the
ledgers the sendable records equal the production per (customer,
dimension, hour), no partition's hour is closed by two instances, and no
(customer, dimension, hour) is sendable in two ledgers (customers are keyed,
so one customer lives in one partition).

Each instance starts with a later closing frontier (see harness.py), so
partitions move between owners that have closed different hours: the new
owner must take the close log from the commit metadata and close only
later hours. The third instance leaves with SIGTERM, the second is killed."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class Production(threading.Thread):
    def __init__(self, bootstrap, hours):
        super().__init__(daemon=True)
        self.producer = H.Producer(bootstrap)
        self.gen = H.EventGen(41, customers=32, prefix="r")
        self.hour = hours.ago(5)
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop_flag.is_set():
                for _ in range(20):
                    self.producer.send(*self.gen.one(self.hour))
                time.sleep(0.1)
            self.producer.flush()
            self.producer.close()
        except Exception as e:
            self.error = e


def wait_balanced(live, what):
    def balanced():
        owned = [i.assigned() for i in live]
        union = set().union(*owned)
        disjoint = sum(len(o) for o in owned) == len(union)
        if union == set(range(H.PARTITIONS)) and disjoint and all(owned):
            return owned
        return None

    owned = H.wait_until(balanced, 90, "partitions spread over %s (%s)" %
                         ([i.name for i in live], what),
                         detail=lambda: {i.name: sorted(i.assigned()) for i in live})
    H.log("%s: %s" % (what, {i.name: sorted(o) for i, o in zip(live, owned)}))


def wait_closed_something(inst):
    """Waits until `inst` has a confirmed close with records in it, so that
    the partitions it hands on carry a close log it wrote. A fixed sleep
    would leave that to the machine's speed."""
    H.wait_until(lambda: H.LedgerView(inst.ledger).sendable() or None, 90,
                 "instance %s to close an hour" % inst.name,
                 detail=lambda: sorted(inst.assigned()))


def main(h):
    hours = H.Hours()
    mock = h.mock()
    inst = {}

    def start(name, frontier):
        cfg, ledger = h.write_config(name, mock, H.lateness_for(frontier))
        if name not in inst:
            inst[name] = h.meterd(name, cfg, ledger)
        return inst[name].start()

    prod = Production(mock.bootstrap, hours)
    prod.start()
    a = start("a", hours.ago(5))
    wait_balanced([a], "1 instance")
    time.sleep(3)
    prod.hour = hours.ago(4)
    b = start("b", hours.ago(4))
    wait_balanced([a, b], "2 instances")
    wait_closed_something(b)
    time.sleep(1)
    prod.hour = hours.ago(3)
    c = start("c", hours.ago(3))
    wait_balanced([a, b, c], "3 instances")
    wait_closed_something(c)
    time.sleep(1)
    prod.hour = hours.ago(2)
    c.term()
    wait_balanced([a, b], "back to 2 (SIGTERM)")
    time.sleep(3)
    b.kill()
    wait_balanced([a], "back to 1 (SIGKILL)")
    time.sleep(2)
    prod.stop_flag.set()
    prod.join(60)
    H.check(prod.error is None, "producer failed: %r" % prod.error)
    H.log("%d events produced" % prod.producer.sent)

    # The remaining instance, restarted with a frontier past every
    # produced hour, closes what is still open.
    a.term()
    start("a", hours.ago(1))
    ledgers = [i.ledger for i in (a, b, c)]
    summary = H.settle(mock.bootstrap, ledgers, 120, expect_no_pending=False)
    H.log("settled: %s" % summary)
    for i in (a, b, c):
        n = len(H.LedgerView(i.ledger).sendable())
        H.check(n > 0, "instance %s closed nothing: the test did not move work around" %
                i.name)
    for i in (a, c):
        v = H.LedgerView(i.ledger)
        H.check(v.pending_parts == 0, "%s stopped cleanly but has %d unconfirmed close "
                "part(s)" % (i.name, v.pending_parts))
    a.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("rebalance").run(main)
