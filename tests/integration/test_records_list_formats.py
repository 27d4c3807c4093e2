"""`meterd records list` tells the truth about what AWS accepted, in every
format: after a billing run (mock Kafka, kcat, `meterd run`, `meterd
emulator`, one SIGKILL while records are in flight), the table, CSV and
JSON outputs parse back to the same rows, and every row matches the
emulator's /_emulator/records one to one: same customer, dimension, hour,
quantity and MeteringRecordId, status accepted. The --config and --ledger
forms agree, and the filters --customer, --dimension, --status, --from/--to
keep exactly the matching rows."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

FIELDS = ("id", "scope", "customer", "dimension", "hour", "usage", "quantity", "status",
          "attempts", "metering_record_id", "moved_to", "last_error", "corrects")


def as_text(row):
    """A JSON row's values as the text the table and CSV show."""
    return {k: "" if row[k] is None else str(row[k]) for k in FIELDS}


def same_rows(what, want, got):
    H.check(len(want) == len(got), "%s: %d rows, JSON has %d" % (what, len(got), len(want)))
    for w, g in zip(want, got):
        H.check(set(g) == set(FIELDS), "%s columns %s, expected %s" % (what, sorted(g), FIELDS))
        H.check(as_text(w) == g, "%s row differs from JSON:\n  json %s\n  %s %s" %
                (what, as_text(w), what, g))


def bill(h):
    """A small billing run; returns (config path, ledger path, emulator)."""
    hours = H.Hours()
    e2e.use_credentials()
    mock = h.mock()
    em_cfg, _ = e2e.write_config(h, "emulator", mock, "1h")
    em = e2e.Emulator(h, em_cfg, ("--latency", "300"))
    cfg, ledger = e2e.write_config(h, "records", mock, H.lateness_for(hours.ago(1)),
                                   endpoint=em.url)
    work = e2e.Workload(7, [hours.ago(k) for k in (4, 3, 2, 1)], customers=8)
    H.kcat_produce(h, mock.bootstrap, work.every_key() + work.batch(400))
    _, truth, truth_tags = e2e.topic_truth(mock.bootstrap)

    inst = h.meterd("records", cfg, ledger)
    inst.start()
    H.wait_until(lambda: any(r["status"] == "in_flight" for r in e2e.ledger_rows(ledger)), 60,
                 "records in flight", interval=0.02, detail=inst.tail)
    inst.kill()
    inst.start()
    e2e.wait_billed(em, ledger, truth, 90, truth_tags)
    inst.term()
    return cfg, ledger, em


def main(h):
    cfg, ledger, em = bill(h)
    emulated = em.records()["records"]
    by_key = {}
    for r in emulated:
        key = (r["customer_identifier"], r["dimension"], e2e.iso_hour_seconds(r["hour"]))
        H.check(key not in by_key, "the emulator holds two records for %s" % (key,))
        by_key[key] = r

    rows = e2e.records_list(["--ledger", ledger], "json")
    H.check(len(rows) == len(emulated) > 0, "records list shows %d rows, the emulator holds %d" %
            (len(rows), len(emulated)))
    seen = set()
    for row in rows:
        key = (row["customer"], row["dimension"], row["hour"])
        r = by_key.get(key)
        H.check(r is not None, "ledger row %s has no record in the emulator" % row)
        H.check(key not in seen, "two ledger rows for %s" % (key,))
        seen.add(key)
        H.check(row["status"] == "accepted" and row["scope"] == e2e.PRODUCT,
                "row %s: expected scope %s, status accepted" % (row, e2e.PRODUCT))
        H.check(row["quantity"] == r["quantity"],
                "%s: ledger quantity %s, AWS accepted %s" % (key, row["quantity"], r["quantity"]))
        H.check(row["usage"] == r["quantity"],
                "%s: usage %s is not the integer quantity %s" % (key, row["usage"], r["quantity"]))
        H.check(row["metering_record_id"] == r["metering_record_id"],
                "%s: ledger MeteringRecordId %s, AWS answered %s" %
                (key, row["metering_record_id"], r["metering_record_id"]))
        H.check(row["attempts"] >= 1 and row["moved_to"] is None and row["last_error"] is None,
                "row %s: an accepted record has attempts >= 1, no moved_to, no last_error" % row)
    retried = sum(1 for r in rows if r["attempts"] > 1)
    H.log("%d records match the emulator; %d were sent more than once" % (len(rows), retried))

    # Every format, through --ledger and --config, shows the same rows.
    for args in (["--ledger", ledger], ["--config", cfg]):
        same_rows("json " + args[0], [as_text(r) for r in rows],
                  [as_text(r) for r in e2e.records_list(args, "json")])
        same_rows("csv " + args[0], rows, e2e.records_list(args, "csv"))
        same_rows("table " + args[0], rows, e2e.records_list(args, "table"))

    # Filters keep exactly the matching rows, in every format.
    customer = rows[len(rows) // 2]["customer"]
    dimension = rows[0]["dimension"]
    hour = rows[-1]["hour"]
    hours = sorted(set(r["hour"] for r in rows))
    cases = [
        (["--customer", customer], lambda r: r["customer"] == customer),
        (["--dimension", dimension], lambda r: r["dimension"] == dimension),
        (["--customer", customer, "--dimension", dimension],
         lambda r: r["customer"] == customer and r["dimension"] == dimension),
        (["--status", "accepted"], lambda r: True),
        (["--status", "sendable"], lambda r: False),
        (["--customer", "nobody"], lambda r: False),
        (["--from", hour[:13], "--to", hour[:13]], lambda r: r["hour"] == hour),
        (["--from", hours[1][:13]], lambda r: r["hour"] >= hours[1]),
        (["--to", hours[1][:13]], lambda r: r["hour"] <= hours[1]),
    ]
    for args, keep in cases:
        want = [r for r in rows if keep(r)]
        for fmt in ("json", "csv", "table"):
            got = e2e.records_list(["--ledger", ledger] + args, fmt)
            want_rows = [as_text(r) for r in want]
            got_rows = [as_text(r) for r in got] if fmt == "json" else got
            H.check(sorted(map(sorted, map(dict.items, got_rows))) ==
                    sorted(map(sorted, map(dict.items, want_rows))),
                    "records list %s --format %s: %d rows, expected %d" %
                    (" ".join(args), fmt, len(got_rows), len(want_rows)))
    counts = collections.Counter(r["customer"] for r in rows)
    H.log("filters checked (%d cases x 3 formats; %d customers, %d hours)" %
          (len(cases), len(counts), len(hours)))


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("records-formats").run(main)
