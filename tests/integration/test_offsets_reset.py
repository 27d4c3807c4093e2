"""`meterd offsets reset` and resets made by other tools, end to end with the
Metering emulator.

- --execute while meterd runs is refused (it holds the ledger), and
  nothing moves.
- Back to the earliest offsets, executed, then `meterd run`: no
  DuplicateRecord, the emulator's totals unchanged, the committed offsets
  back where meterd's ledger had them.
- A forward dry run over events of an open hour reports exactly those
  events as never billed, with their usage per dimension, and changes
  nothing.
- kafka-python commits without meterd's metadata: forward on one
  partition, back on another. The next `meterd run` says what happened for
  each; the skipped open-hour events are not billed, the closed hours stay
  closed (a late event after the new offset folds into the open hour), and
  the partition moved back loses nothing."""
import collections
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

FORWARD, BACK = 2, 5


def reset(cfg, *args):
    r = subprocess.run([H.BIN, "offsets", "reset", "--config", cfg, *args], capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def produce(bootstrap, hour, per_partition, prefix):
    """Events on every partition; returns {(customer, dimension): units}."""
    p = H.Producer(bootstrap)
    sent = collections.Counter()
    for part in range(H.PARTITIONS):
        for i in range(per_partition):
            c = "%s-%d" % (prefix, part)
            p.send(c, H.event_json(c, "api_calls", "2", hour + i * 1000, "%s-%d-%d" %
                                   (prefix, part, i)), partition=part)
            sent[(c, "api_calls")] += 2
    p.flush()
    p.close()
    return sent


def foreign_commit(bootstrap, group, offsets):
    import kafka
    c = kafka.KafkaConsumer(H.TOPIC, bootstrap_servers=bootstrap, group_id=group,
                            enable_auto_commit=False, session_timeout_ms=6000,
                            heartbeat_interval_ms=500)
    tps = {kafka.TopicPartition(H.TOPIC, p): o for p, o in offsets.items()}
    H.wait_until(lambda: c.poll(200) is not None and set(tps) <= c.assignment(), 60,
                 "kafka-python to join the group")
    c.commit({tp: kafka.OffsetAndMetadata(o, "") for tp, o in tps.items()})
    c.close(autocommit=False)


def main(h):
    e2e.use_credentials()
    hours = H.Hours()
    mock = h.mock()
    em_cfg, _ = e2e.write_config(h, "em", mock, "5m")
    em = e2e.Emulator(h, em_cfg)
    cfg, ledger = e2e.write_config(h, "reset", mock, H.lateness_for(hours.ago(2)),
                                   endpoint=em.url)
    billed = produce(mock.bootstrap, hours.ago(3), 20, "a")
    billed += produce(mock.bootstrap, hours.ago(2), 20, "b")
    inst = h.meterd("reset", cfg, ledger).start()
    H.wait_until(lambda: e2e.accepted_units(em) == billed or None, 90, "the emulator to accept hours -3, -2",
                 detail=lambda: e2e.accepted_units(em))
    before, _ = H.committed_offsets(mock.bootstrap, h.group)

    rc, out, err = reset(cfg, "--to-earliest", "--execute")
    H.check(rc == 1 and "refused" in err and "meterd" in err,
            "--execute while meterd runs: exit %d\n%s%s" % (rc, out, err))
    H.check(H.committed_offsets(mock.bootstrap, h.group)[0] == before, "a refused reset moved "
            "offsets")
    inst.term()

    rc, out, err = reset(cfg, "--to-earliest")
    H.check(rc == 0 and "dry run: nothing changed" in out and "back:" in out and
            "none is billed twice" in out, "dry run back: exit %d\n%s%s" % (rc, out, err))
    H.check(H.committed_offsets(mock.bootstrap, h.group)[0] == before, "a dry run moved offsets")
    rc, out, err = reset(cfg, "--to-earliest", "--execute")
    H.check(rc == 0 and "committed the new offsets" in out, "execute: %d\n%s%s" % (rc, out, err))
    now = H.committed_offsets(mock.bootstrap, h.group)[0]
    H.check(all(o == 0 for o, _ in now.values()), "not reset to earliest: %s" % now)
    H.check(all(now[p][1] == before[p][1] for p in now), "the close log was not kept")

    inst.start()
    H.wait_until(lambda: all(o >= before[p][0] for p, (o, _) in
                             H.committed_offsets(mock.bootstrap, h.group)[0].items()) or None,
                 60, "meterd to put its offsets back")
    # Events of an open hour: never closed by this frontier.
    open_hour = produce(mock.bootstrap, hours.ago(1), 10, "c")
    inst.term()
    stats = em.stats()
    H.check(e2e.accepted_units(em) == billed and stats["records"].get("duplicate", 0) == 0,
            "after the reset back: accepted %s, stats %s" % (e2e.accepted_units(em), stats))

    rc, out, err = reset(cfg, "--to-latest", "--format", "json")
    rows = json.loads(out)
    never = sum(r["never_billed"] for r in rows)
    H.check(rc == 0 and never == sum(v for v in open_hour.values()) // 2,
            "forward dry run: %d never billed, %d produced\n%s%s" %
            (never, sum(open_hour.values()) // 2, out, err))
    H.check("api_calls: %d unit(s) in %d event(s)" % (sum(open_hour.values()), never) in err,
            "the usage estimate is missing:\n%s" % err)

    # Another tool moves partition FORWARD to its end and BACK to 0.
    ends = H.committed_offsets(mock.bootstrap, h.group)[1]
    foreign_commit(mock.bootstrap, h.group, {FORWARD: ends[FORWARD], BACK: 0})
    # A late event of a closed hour after the new offset: with meterd's close
    # log kept it folds into the open hour, billed once, and the partition
    # goes on.
    p = H.Producer(mock.bootstrap)
    p.send("late", H.event_json("late", "api_calls", "3", hours.ago(2) + 5000, "late-1"),
           partition=FORWARD)
    p.flush()
    p.close()
    # Close the open hour now: everything but FORWARD's skipped events bills.
    cfg, _ = e2e.write_config(h, "reset", mock, H.lateness_for(hours.ago(1)), endpoint=em.url,
                              ledger=ledger)
    inst.start()
    want = billed + collections.Counter(
        {k: v for k, v in open_hour.items() if k[0] != "c-%d" % FORWARD})
    want[("late", "api_calls")] += 3
    H.wait_until(lambda: e2e.accepted_units(em) == want or None, 90, "the emulator to accept hour -1",
                 detail=lambda: e2e.diff_counters("accepted", want, e2e.accepted_units(em)))
    log = inst.log_text()
    H.check("usage[%d]: the committed offset was moved forward" % FORWARD in log and
            "never billed" in log, "no log line for the forward reset:\n%s" % log)
    H.check("usage[%d]: the committed offset 0 was set without meterd's close log" % BACK in log,
            "no log line for the reset back:\n%s" % log)
    late = [r for r in em.records()["records"] if r["customer_identifier"] == "late"]
    H.check([r["timestamp"] * 1000 for r in late] == [hours.ago(1)],
            "the late event of a closed hour was not folded into the open hour: %s" % late)
    stats = em.stats()
    H.check(stats["records"].get("duplicate", 0) == 0, "DuplicateRecord: %s" % stats)
    inst.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("offsets-reset").run(main)
