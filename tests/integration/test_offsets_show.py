"""`meterd offsets show` tells what Kafka holds for the group, checked
against kafka-python (an independent client): per partition the committed
offset and log end equal what OffsetFetch and ListOffsets give, the lag is
their difference, the close log decoded from the commit metadata (by this
test's own parser) gives the closed hours and the last hour closed as of
the committed offset, and owners are reported unknown (the embedded mock
cluster does not describe groups) rather than guessed. A plain
commit by another tool shows as metadata "none" and is counted in the
table's summary. The three formats carry the same rows."""
import csv
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def show(cfg, fmt):
    r = subprocess.run([H.BIN, "offsets", "show", "--config", cfg, "--format", fmt],
                       capture_output=True, text=True, timeout=60)
    H.check(r.returncode == 0, "meterd offsets show --format %s exited %d: %s" %
            (fmt, r.returncode, r.stderr))
    return r.stdout


def close_log(metadata):
    """(hours closed, last hour closed as of each offset) from meterd's
    commit metadata "v1;H@O,dH@dO,...|writers" (aggregate/closelog.h)."""
    text = metadata.split("|", 1)[0]
    H.check(text.startswith("v1;"), "unexpected metadata %r" % metadata)
    entries, hour, off = [], 0, 0
    for i, item in enumerate(filter(None, text[3:].split(","))):
        h, o = (int(x) for x in item.split("@"))
        hour, off = (h, o) if i == 0 else (hour + h, off + o)
        entries.append((hour * H.HOUR_MS, off))
    return entries


def closed_through(entries, committed):
    hours = [h for h, o in entries if o <= committed]
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hours[-1] // 1000)) if hours else None


def main(h):
    hours = H.Hours()
    mock = h.mock()
    cfg, ledger = h.write_config("a", mock, H.lateness_for(hours.ago(2)))
    gen = H.EventGen(seed=5, customers=12)
    H.kcat_produce(h, mock.bootstrap, gen.batch([hours.ago(3), hours.ago(2)], 1200))
    inst = h.meterd("a", cfg, ledger).start()
    H.settle(mock.bootstrap, [ledger], 90)

    rows = json.loads(show(cfg, "json"))
    committed, ends = H.committed_offsets(mock.bootstrap, h.group)
    H.check(len(rows) == H.PARTITIONS, "%d rows for %d partitions" % (len(rows), H.PARTITIONS))
    for r in rows:
        p = r["partition"]
        off, meta = committed[p]
        H.check(r["topic"] == H.TOPIC, "row %s" % r)
        H.check(r["committed"] == off and r["log_end"] == ends[p],
                "partition %d: shows committed %s, log end %s; kafka-python %s, %s" %
                (p, r["committed"], r["log_end"], off, ends[p]))
        H.check(r["lag"] == ends[p] - off, "partition %d: lag %s" % (p, r["lag"]))
        H.check(r["log_start"] == 0, "partition %d: log start %s" % (p, r["log_start"]))
        H.check(r["metadata"] == "meterd", "partition %d: metadata %s for %r" %
                (p, r["metadata"], meta))
        entries = close_log(meta)
        H.check(r["close_log_hours"] == len(entries) and
                r["closed_through"] == closed_through(entries, off),
                "partition %d: closed %s through %s; the metadata says %d through %s" %
                (p, r["close_log_hours"], r["closed_through"], len(entries),
                 closed_through(entries, off)))
        H.check(r["closed_by"] and r["closed_by"] in meta, "partition %d: closed_by %s" %
                (p, r["closed_by"]))
        # The embedded mock cluster does not answer DescribeGroups: owners
        # are then reported unknown (null), never guessed.
        H.check(r["owner"] is None, "partition %d: owner %s from a broker that cannot "
                "describe groups" % (p, r["owner"]))

    # CSV and the table carry the same rows.
    table_rows = list(csv.DictReader(io.StringIO(show(cfg, "csv"))))
    H.check([(int(r["partition"]), int(r["committed"])) for r in table_rows] ==
            [(r["partition"], r["committed"]) for r in rows], "CSV rows differ from JSON")
    table = show(cfg, "table")
    H.check("members and owners unknown" in table and "total lag 0" in table,
            "table summary missing or wrong:\n" + table)

    # meterd stops; another tool commits partition 3 without metadata.
    inst.term()
    import kafka
    c = kafka.KafkaConsumer(H.TOPIC, bootstrap_servers=mock.bootstrap, group_id=h.group,
                            enable_auto_commit=False, session_timeout_ms=6000,
                            heartbeat_interval_ms=500)
    tp = kafka.TopicPartition(H.TOPIC, 3)
    H.wait_until(lambda: c.poll(200) is not None and tp in c.assignment(), 60,
                 "kafka-python to join the group")
    c.commit({tp: kafka.OffsetAndMetadata(1, "")})
    c.close(autocommit=False)
    rows = {r["partition"]: r for r in json.loads(show(cfg, "json"))}
    H.check(rows[3]["committed"] == 1 and rows[3]["metadata"] == "none" and
            rows[3]["close_log_hours"] == 0 and rows[3]["closed_through"] is None,
            "a plain commit shows as %s" % rows[3])
    H.check(all(r["owner"] is None for r in rows.values()), "owners after stop: %s" %
            [r["owner"] for r in rows.values()])
    table = show(cfg, "table")
    H.check("1 partition(s) committed by another tool" in table,
            "the summary does not count the plain commit:\n" + table)
    H.log(table)


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("offsets-show").run(main)
