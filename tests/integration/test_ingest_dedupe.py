"""events.dedupe drops retried copies, the same way across a crash: events
with ids over two hours, keyed by customer, with copies of some of them
(the same id and content, as a producer retry sends), and a small
events."dedupe.max_ids_per_hour" so that some (partition, hour)s run past
it. The first `meterd run` reads them and is killed (SIGKILL) in the middle
of the hours; more events and more copies, some of ids seen before the
crash, are produced; the restarted instance replays from the committed
offset and closes both hours.

The truth is computed here from what the topic holds, partition by
partition in offset order, by the rule of the README: an id counts once per
(partition, customer, dimension, hour) until that (partition, hour) has
kept the budget's number of ids; from the next new id on nothing is
checked. The Metering emulator's accepted units per (customer, dimension)
equal that truth (not the sum of every copy), meterd_events_duplicate_total
is the number of copies the rule drops, and meterd_dedupe_budget_reached_total
the number of (partition, hour)s past the budget. A second group with
dedupe off, reading the same topic, bills every copy: the switch works."""
import calendar
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402
import test_metrics as M  # noqa: E402

BUDGET = 30


def events(rng, work, hours, n, copies, earlier=()):
    """n new events plus `copies` copies of new or earlier ones, shuffled
    as retries arrive: (key, json) pairs."""
    fresh = [work.event(hour=rng.choice(hours)) for _ in range(n)]
    pool = fresh + list(earlier)
    out = fresh + [rng.choice(pool) for _ in range(copies)]
    rng.shuffle(out)
    return fresh, out


def event_time_ms(ts):
    """"2026-12-07T10:15:00.250Z" (as e2e.Workload writes it) -> epoch ms."""
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(frac)


def truth(messages):
    """Units per (customer, dimension) by the dedupe rule, copies dropped,
    and the (partition, hour)s past the budget."""
    units = collections.Counter()
    dropped = over_count = 0
    for part, msgs in messages.items():
        seen = collections.defaultdict(set)
        over = set()
        for m in msgs:
            ev = json.loads(m.value)
            hour = H.hour_floor(event_time_ms(ev["timestamp"]))
            key = (ev["customer"], ev["dimension"], ev["id"])
            if hour not in over:
                if key in seen[hour]:
                    dropped += 1
                    continue
                if len(seen[hour]) >= BUDGET:
                    over.add(hour)
                    over_count += 1
                else:
                    seen[hour].add(key)
            units[(ev["customer"], ev["dimension"])] += ev["quantity"]
    return units, dropped, over_count


def config(h, name, mock, lateness, em, ledger, port, dedupe, group=None):
    path, ledger = e2e.write_config(h, name, mock, lateness, endpoint=em.url, ledger=ledger,
                                    extra={"events": {"dedupe": dedupe,
                                                      "dedupe.max_ids_per_hour": BUDGET},
                                           "metrics": {"listen": "127.0.0.1:%d" % port}})
    if group:
        with open(path) as f:
            c = json.load(f)
        c["kafka"]["group.id"] = group
        with open(path, "w") as f:
            json.dump(c, f, indent=1)
    return path, ledger


def main(h):
    e2e.use_credentials()
    hours = H.Hours()
    past = [hours.ago(3), hours.ago(2)]
    mock = h.mock()
    em_cfg, _ = e2e.write_config(h, "emulator", mock, "5m")
    em = e2e.Emulator(h, em_cfg)
    rng = random.Random(int(os.environ.get("METERD_DEDUPE_SEED", "23")))
    work = e2e.Workload(rng.randrange(1 << 30), past, customers=10)
    producer = H.Producer(mock.bootstrap)

    # Run 1: nothing may close (the frontier is before both hours).
    port = M.free_port()
    cfg, ledger = config(h, "dd", mock, H.lateness_for(hours.ago(4)), em, None, port, True)
    first, batch = events(rng, work, past, 400, 120)
    producer.send_all(batch)
    inst = h.meterd("dd", cfg, ledger).start()
    H.wait_until(lambda: (M.scrape(port) or ({}, {}))[0].get(
        ("meterd_kafka_messages_total", ())) == len(batch), 60,
        "the first instance to read the first %d messages" % len(batch))
    inst.kill()
    H.log("first instance killed after reading %d messages" % len(batch))

    # More events, with copies of ids from before the crash; then a run
    # that closes both hours.
    _, batch2 = events(rng, work, past, 300, 120, earlier=first)
    producer.send_all(batch2)
    producer.close()
    port = M.free_port()
    cfg, ledger = config(h, "dd", mock, H.lateness_for(hours.ago(2)), em, ledger, port, True)
    inst.start()
    messages = H.read_topic(mock.bootstrap)
    units, dropped, over = truth(messages)
    total = sum(len(m) for m in messages.values())
    H.log("%d messages, %d copies dropped by the rule, %d (partition, hour)s past the budget" %
          (total, dropped, over))
    H.check(dropped > 0 and over > 0, "the workload exercises neither copies nor the budget")
    e2e.wait_billed(em, ledger, units, 120)
    samples = M.scrape(port)[0]
    H.check(M.value(samples, "meterd_events_duplicate_total") == dropped,
            "meterd_events_duplicate_total %s, the rule drops %d" %
            (M.value(samples, "meterd_events_duplicate_total"), dropped))
    H.check(M.value(samples, "meterd_dedupe_budget_reached_total") == over,
            "meterd_dedupe_budget_reached_total %s, expected %d" %
            (M.value(samples, "meterd_dedupe_budget_reached_total"), over))
    inst.term()

    # The same topic, another group with dedupe off: every copy counts.
    em2_cfg, _ = e2e.write_config(h, "emulator2", mock, "5m")
    em2 = e2e.Emulator(h, em2_cfg, name="emulator2")
    port2 = M.free_port()
    cfg2, ledger2 = config(h, "plain", mock, H.lateness_for(hours.ago(2)), em2, None, port2,
                           False, group=h.group + "-plain")
    plain = h.meterd("plain", cfg2, ledger2).start()
    every = collections.Counter()
    for msgs in messages.values():
        for m in msgs:
            ev = json.loads(m.value)
            every[(ev["customer"], ev["dimension"])] += ev["quantity"]
    e2e.wait_billed(em2, ledger2, every, 120)
    H.check(M.value(M.scrape(port2)[0], "meterd_events_duplicate_total") == 0,
            "dedupe off dropped events")
    plain.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("dedupe").run(main)
