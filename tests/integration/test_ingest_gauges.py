"""One customer's hours spread over three partitions (a producer that did not
key by customer), one dimension per aggregation: what the Metering emulator
accepts per (dimension, hour) equals one pass over all the events in event
order -- sum and count added over the partitions, max the largest of them,
latest the value of the latest event, the larger one at equal event times
(the hour ends with such a tie between two partitions).

The first `meterd run` dies (SIGKILL at ingest.after_ledger_commit) after
writing its first close to the ledger and before the Kafka commit; the
restarted one reconciles that close with Kafka and goes on. The records it
sends are the same as an uninterrupted run's would be."""
import collections
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

CUSTOMER = "cust-gauge"
PARTITIONS = (1, 4, 6)
DIMS = (("api", "sum"), ("calls", "count"), ("peak", "max"), ("seats", "latest"))


def write_config(h, mock, lateness, endpoint, ledger):
    path, ledger = e2e.write_config(h, "gauges", mock, lateness, endpoint=endpoint, ledger=ledger)
    with open(path) as f:
        config = json.load(f)
    config["products"][0]["dimensions"] = [
        {"name": d, "aggregation": a, "rounding": "up"} for d, a in DIMS]
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path, ledger


def workload(rng, hours):
    """(partition, event) pairs in event-time order, and the events."""
    events = []
    for hour in hours:
        for i in range(40):
            ts = hour + rng.randrange(H.HOUR_MS - 60000)
            d = DIMS[i % len(DIMS)][0]
            events.append((rng.choice(PARTITIONS), d, rng.randint(1, 50), ts))
        # The hour's last seats readings: a tie at one event time in two
        # partitions, the larger value in the partition listed first.
        tie = hour + H.HOUR_MS - 1000
        events.append((PARTITIONS[0], "seats", 77, tie))
        events.append((PARTITIONS[2], "seats", 12, tie))
    events.sort(key=lambda e: e[3])
    return events


def one_pass(events):
    """{(dimension, hour): units} from all events in event order."""
    agg = dict(DIMS)
    fold = H.OnePass()
    for _, d, q, ts in events:
        fold.add((d, H.hour_floor(ts)), agg[d], q, ts)
    return fold.values


def accepted(em):
    got = collections.Counter()
    for r in em.records()["records"]:
        H.check(r.get("customer_identifier") == CUSTOMER, "unexpected record %s" % r)
        got[(r["dimension"], r["timestamp"] * 1000)] += r["quantity"]
    return got


def main(h):
    e2e.use_credentials()
    hours = H.Hours()
    mock = h.mock()
    em_cfg, _ = write_config(h, mock, "5m", "http://127.0.0.1:1", None)
    em = e2e.Emulator(h, em_cfg)
    cfg, ledger = write_config(h, mock, H.lateness_for(hours.ago(2)), em.url, None)

    events = workload(random.Random(int(os.environ.get("METERD_GAUGE_SEED", "7"))),
                      [hours.ago(3), hours.ago(2)])
    producer = H.Producer(mock.bootstrap)
    for n, (part, d, q, ts) in enumerate(events):
        producer.send(CUSTOMER, H.event_json(CUSTOMER, d, q, ts, "g-%d" % n), partition=part)
    producer.flush()
    producer.close()
    truth = one_pass(events)
    H.log("%d events over partitions %s; one pass: %s" % (len(events), PARTITIONS,
                                                          sorted(truth.items())))

    inst = h.meterd("gauges", cfg, ledger)
    inst.start(fault="ingest.after_ledger_commit")
    rc = inst.wait(60)
    H.check(rc == -9, "meterd %s with METERD_FAULT=ingest.after_ledger_commit; see %s\n%s" %
            ("exited %s" % rc if rc is not None else "still runs after 60 s", inst.log_path,
             inst.tail()))
    inst.start()

    last = [None]

    def billed():
        got = accepted(em)
        last[0] = e2e.diff_counters("accepted units", collections.Counter(truth), got)
        return not last[0]

    H.wait_until(billed, 90, "the emulator to accept the one-pass value of every hour",
                 interval=1.0, detail=lambda: "\n".join(last[0] or []))
    stats = em.stats()
    H.check(stats["records"].get("duplicate", 0) == 0,
            "the emulator answered DuplicateRecord: %s" % stats)
    inst.term()
    H.log("accepted: %s" % sorted(accepted(em).items()))


if __name__ == "__main__":
    H.require_environment()
    H.Harness("gauges").run(main)
