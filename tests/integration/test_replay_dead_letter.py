"""The dead-letter incident, end to end with the Metering emulator.

A deploy ships a config without the `reports` dimension: for two hours its
events go to the dead-letter topic (with a few events no config can bill).
One copy is dead-lettered twice. The config is fixed and meterd restarted;
`meterd replay --dead-letter --since ... --submit-corrections` reports the
reports events as valid now (by their original reason), the bad ones as
still invalid with examples, counts the doubled copy once, and bills
exactly the missing usage: the emulator's totals then equal what was
produced per (customer, dimension). Running it again bills nothing."""
import collections
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402

DIMS = ("api_calls", "storage_gb", "reports")


def write_config(h, name, mock, lateness, endpoint, ledger, dims):
    path, ledger = e2e.write_config(h, name, mock, lateness, endpoint=endpoint, ledger=ledger)
    with open(path) as f:
        config = json.load(f)
    config["products"][0]["dimensions"] = [{"name": d, "rounding": "up"} for d in dims]
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


def wait_accepted(em, want, what):
    H.wait_until(lambda: e2e.accepted_units(em) == want or None, 90, what,
                 detail=lambda: "\n".join(e2e.diff_counters("accepted", want, e2e.accepted_units(em))))


def redead_letter_one(bootstrap):
    """Sends the first dead-letter copy again, headers and all, as a
    restart that re-read the event would."""
    import kafka
    c = kafka.KafkaConsumer(H.DLQ_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                            enable_auto_commit=False, consumer_timeout_ms=10000)
    first = None
    for m in c:
        if dict(m.headers).get("meterd.reason") == b"unknown_dimension":
            first = m
            break
    c.close()
    H.check(first is not None, "no dead-letter copy of a reports event")
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap)
    p.send(H.DLQ_TOPIC, key=first.key, value=first.value, headers=first.headers).get(30)
    p.close()


def main(h):
    e2e.use_credentials()
    hours = H.Hours()
    mock = h.mock()
    ledger = h.path("dlq.db")
    em = e2e.Emulator(h, write_config(h, "em", mock, "5m", "http://127.0.0.1:1", None, DIMS))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    produced = collections.Counter()
    report_hours = set()  # (customer, hour) with reports usage: one correction each
    p = H.Producer(mock.bootstrap)
    n = 0
    for hour in (hours.ago(3), hours.ago(2)):
        for i in range(120):
            c = "cust-%d" % (i % 6)
            d = DIMS[i % 3]
            q = 1 + i % 7
            n += 1
            p.send(c, H.event_json(c, d, q, hour + i * 20000, "e-%d" % n))
            produced[(c, d)] += q
            if d == "reports":
                report_hours.add((c, hour))
        p.send("cust-0", H.event_json("cust-0", "api_calls", "-5", hour + 1000, "bad-%d" % n))
    p.flush()
    p.close()

    broken = write_config(h, "broken", mock, H.lateness_for(hours.ago(2)), em.url, ledger,
                          DIMS[:2])
    inst = h.meterd("dlq", broken, ledger).start()
    without_reports = collections.Counter({k: v for k, v in produced.items()
                                           if k[1] != "reports"})
    wait_accepted(em, without_reports, "the broken config's bills")
    inst.term()
    redead_letter_one(mock.bootstrap)

    fixed = write_config(h, "fixed", mock, H.lateness_for(hours.ago(2)), em.url, ledger, DIMS)
    inst = h.meterd("fixed", fixed, ledger).start()
    cmd = [H.BIN, "replay", "--config", fixed, "--dead-letter", "--since", since,
           "--submit-corrections"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    H.log("$ meterd replay --dead-letter --since %s --submit-corrections\n%s%s" %
          (since, r.stdout, r.stderr))
    n_reports = 2 * 120 // 3
    H.check(r.returncode == 3, "exit %d (3: still-invalid copies remain)" % r.returncode)
    line = [l for l in r.stdout.splitlines() if l.startswith("unknown_dimension")]
    H.check(line and line[0].split()[1:] == [str(n_reports), "0"],
            "unknown_dimension row: %s (want %d now valid)\n%s" % (line, n_reports, r.stdout))
    line = [l for l in r.stdout.splitlines() if l.startswith("negative_quantity")]
    H.check(line and line[0].split()[1:] == ["0", "2"] and "still negative_quantity" in r.stdout,
            "negative_quantity row: %s\n%s" % (line, r.stdout))
    H.check("(1 of an event already seen, counted once" in r.stdout,
            "the doubled copy is not counted once:\n%s" % r.stdout)
    H.check("billed %d correction(s)" % len(report_hours) in r.stdout,
            "want %d corrections, one per (customer, hour) with reports:\n%s" %
            (len(report_hours), r.stdout))
    wait_accepted(em, produced, "the emulator to hold everything produced")

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    H.check("correction run" not in r.stdout and "no difference" in r.stdout,
            "the second run billed again:\n%s%s" % (r.stdout, r.stderr))
    stats = em.stats()
    H.check(e2e.accepted_units(em) == produced and stats["records"].get("duplicate", 0) == 0,
            "after the second run: %s" % stats)
    inst.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("replay-dead-letter").run(main)
