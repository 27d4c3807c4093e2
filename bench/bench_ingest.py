"""End-to-end ingest benchmark (DESIGN.md section 7): the same events on an
8-partition mock cluster are read (a) by a plain librdkafka consumer and
(b) by `meterd run` (decode, validate, aggregate, close, ledger), in one
run, and the ratio is printed with the close -> sendable times from the
close log lines; then (c) `meterd replay --hours` recomputes the same
hour from the topic and diffs it with the ledger (an audit), and its rate
is printed next to meterd run's. Not a test: run it by hand,

    /usr/bin/python3 bench/bench_ingest.py --build build [--events 300000]

The mock cluster keeps only about 5 MB per partition, so the default is
300k events of about 90 bytes (about 3.5 MB a partition), not millions.
The raw rate comes from `meterbench consume` (bench/bench_consume.c) when
meterbench has it, else from kcat (slower: it formats every message); both
are timed from the first message to the last, best of three. meterd's rate is
timed the same way, from its own counter of messages read: its /metrics
endpoint (meterd_kafka_messages_total) is read every 5 ms from the first
message to the last."""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness as H  # noqa: E402


def kcat_seconds(bootstrap, topic, expect):
    """Seconds from kcat's first message to its last (start-up and the
    metadata round trip excluded)."""
    p = subprocess.Popen(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-f", "%o\n"], stdout=subprocess.PIPE, bufsize=1 << 20)
    first = last = None
    n = 0
    for chunk in iter(lambda: p.stdout.read1(1 << 20), b""):
        now = time.monotonic()
        first = first or now
        last = now
        n += chunk.count(b"\n")
    p.wait()
    if n != expect:
        raise SystemExit("kcat read %d messages of %s, expected %d" % (n, topic, expect))
    return last - first


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def messages_read(port):
    """meterd_kafka_messages_total from meterd's /metrics, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("meterd_kafka_messages_total "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def messages_first_last(port, expect, timeout):
    """Monotonic times at which meterd had read its first and its last
    (expect-th) message, sampled every 5 ms."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        n = messages_read(port)
        now = time.monotonic()
        if n and first is None:
            first = now
        if n is not None and n >= expect:
            return first, now
        time.sleep(0.005)
    raise RuntimeError("meterd did not read %d messages in %d s" % (expect, timeout))


def raw_consume_seconds(args, bootstrap):
    """Best of three of `meterbench consume` (or the program named by
    METERD_BENCH_CONSUMER, same arguments); kcat when neither runs."""
    tool = os.environ.get("METERD_BENCH_CONSUMER")
    cmd = [tool] if tool else [os.path.join(args.build, "meterbench"), "consume"]
    best = None
    for _ in range(3):
        try:
            r = subprocess.run(cmd + [bootstrap, "usage", str(args.events)],
                               capture_output=True, text=True, timeout=600)
        except OSError:
            break
        if r.returncode != 0 or not r.stdout.startswith("consumed "):
            break
        secs = float(r.stdout.split(" in ")[1].split(" s")[0])
        best = secs if best is None else min(best, secs)
    if best is not None:
        return best, " ".join(cmd)
    return min(kcat_seconds(bootstrap, "usage", args.events) for _ in range(3)), "kcat"


def main(h, args):
    hours = H.Hours()
    mock = h.mock()
    base = hours.ago(2)
    path = h.path("events.txt")
    with open(path, "w") as f:
        for i in range(args.events):
            c = "c%05d" % (i % args.customers)
            f.write('%s:{"customer":"%s","dimension":"api_calls","quantity":1,'
                    '"timestamp":%d}\n' % (c, c, base + (i * 997) % H.HOUR_MS))
    t = time.monotonic()
    subprocess.run(["kcat", "-P", "-b", mock.bootstrap, "-t", "usage", "-K:", "-l", path,
                    "-X", "linger.ms=100", "-X", "batch.num.messages=10000"], check=True,
                   timeout=600)
    H.log("produced %d events in %.1f s (%d bytes a line)" %
          (args.events, time.monotonic() - t, os.path.getsize(path) // args.events))

    raw, tool = raw_consume_seconds(args, mock.bootstrap)
    raw_rate = args.events / raw
    H.log("%s: %.3f s from first to last message: %.0f events/s" % (tool, raw, raw_rate))

    cfg, ledger = h.write_config("bench", mock, H.lateness_for(hours.ago(1)),
                                 shards=args.shards)
    port = free_port()
    with open(cfg) as f:
        config = json.load(f)
    config["metrics"] = {"listen": "127.0.0.1:%d" % port}
    with open(cfg, "w") as f:
        json.dump(config, f)
    inst = h.meterd("bench", cfg, ledger).start()
    first, last = messages_first_last(port, args.events, 300)
    rate = args.events / (last - first)
    H.wait_until(lambda: sum(r["micro"] for r in H.LedgerView(ledger).records) ==
                 args.events * 1000000, 300, "meterd to count every event",
                 interval=0.5)
    inst.term()
    lines = inst.log_text().splitlines()
    closes = [ln for ln in lines if "ingest: closed " in ln]
    totals = [int(ln.split(" total ")[1].split(" ms")[0]) for ln in closes]
    print("events              %d on 8 partitions, %d customers, %d shard(s)" %
          (args.events, args.customers, args.shards))
    print("raw librdkafka      %.0f events/s (%s)" % (raw_rate, tool))
    print("meterd run          %.0f events/s (%.3f s from first to last message)" %
          (rate, last - first))
    print("ratio               %.0f %%" % (100.0 * rate / raw_rate))
    print("close -> sendable   %s ms (per close, %d record(s) in the ledger)" %
          (totals, len(H.LedgerView(ledger).records)))
    print("stopped line        %s" % H.stopped_line(inst.log_text()))
    replay_rate, clean = replay_seconds(cfg, base)
    print("meterd replay       %.0f events/s (%s); %.0f %% of meterd run" %
          (replay_rate, "audit clean" if clean else "AUDIT FOUND DIFFERENCES", 100.0 *
           replay_rate / rate))


def replay_seconds(cfg, hour):
    """`meterd replay --hours` over the benchmark's hour: its own rate
    (offsets read / seconds from start to end of the read, from its final
    progress line) and whether the audit was clean."""
    r = subprocess.run([H.BIN, "replay", "--config", cfg, "--hours", H.iso_hour(hour)],
                       capture_output=True, text=True, timeout=600)
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("replay: ")][-1]
    return float(line.split("(")[1].split("/s")[0]), r.returncode == 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory holding meterd")
    ap.add_argument("--events", type=int, default=300000)
    ap.add_argument("--customers", type=int, default=10000)
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args()
    H.BIN = os.path.abspath(os.path.join(args.build, "meterd"))
    H.require_environment(need_kcat=True)
    H.Harness("bench").run(lambda h: main(h, args))
