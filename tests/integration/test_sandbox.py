"""The sandbox's printed config works as is: `meterd sandbox --port 0
--config-out F --ledger L` prints the bootstrap servers, the emulator URL,
the config path and an `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...`
line; `meterd run --config F` with exactly those credentials exported
bills what kcat produces to the printed bootstrap servers (integer
api_calls, decimal data_gb rounded to nearest, counted requests), and the
printed emulator URL's /_emulator/records shows it accepted. The sample
event of the printed kcat command is read and counted, not rejected."""
import collections
import decimal
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import e2e  # noqa: E402


# The printed sample event (its hour is the current one).
SAMPLE_KEY, SAMPLE_QUANTITY = ("cust-1", "api_calls"), 3


class Sandbox:
    """`meterd sandbox` with its stdout in a file (what a user reads)."""

    def __init__(self, h, config_out, ledger):
        self.out_path = h.path("sandbox.out")
        self.err_path = h.path("sandbox.err")
        h.logs += [self.out_path, self.err_path]
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [H.BIN, "sandbox", "--port", "0", "--config-out", config_out, "--ledger", ledger],
            stdout=self.out, stderr=self.err, cwd=h.dir)
        h.procs.append(self)

    def alive(self):
        return self.proc.poll() is None

    def text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise H.TestFailure("meterd sandbox did not stop within 20 s of SIGTERM")
        H.check(rc == 0, "meterd sandbox exited %s after SIGTERM" % rc)


def parse_printed(text):
    def field(pattern, what):
        m = re.search(pattern, text, re.M)
        H.check(m, "the sandbox did not print %s:\n%s" % (what, text))
        return m
    bootstrap = field(r"^  Kafka bootstrap servers +(\S+)$", "the bootstrap servers").group(1)
    url = field(r"^  Metering emulator +(http://127\.0\.0\.1:\d+)$", "the emulator URL").group(1)
    config = field(r"^  config for meterd run +(\S+)$", "the config path").group(1)
    m = field(r"^  export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)$",
              "the credentials to export")
    sample = field(r"^  (echo '(.*)' \|\n +kcat -P -b \S+ -t usage -K:)$", "a kcat sample")
    key, event = sample.group(2).split(":", 1)
    event = json.loads(event)
    H.check(key == event["customer"] and (event["customer"], event["dimension"]) == SAMPLE_KEY
            and event["quantity"] == SAMPLE_QUANTITY,
            "the sample event changed (%s): update SAMPLE_KEY" % sample.group(2))
    return bootstrap, url, config, (m.group(1), m.group(2)), sample.group(1)


def main(h):
    config_out, ledger = h.path("cfg.json"), h.path("l.db")
    sb = Sandbox(h, config_out, ledger)
    text = H.wait_until(lambda: (sb.alive() or None) and "An hour is billed" in sb.text() and
                        sb.text(), 30, "the sandbox's instructions",
                        detail=lambda: sb.text() + open(sb.err_path).read())
    bootstrap, url, config, (key_id, secret), sample = parse_printed(text)
    H.check(os.path.realpath(os.path.join(h.dir, config)) == os.path.realpath(config_out),
            "the sandbox printed config %s, --config-out was %s" % (config, config_out))
    with open(config_out) as f:
        written = json.load(f)
    H.check(written["ledger"]["path"] == ledger, "config ledger.path %s, --ledger was %s" %
            (written["ledger"]["path"], ledger))
    H.check(e2e.http_json(url + "/_emulator/records")["count"] == 0, "emulator not empty")
    H.log("sandbox: kafka %s, emulator %s, config %s" % (bootstrap, url, config))

    # The user's own producer: past hours, keyed by customer.
    hours = H.Hours()
    work = e2e.Workload(11, [hours.ago(k) for k in (3, 2)], customers=6,
                        dimensions=("api_calls", "requests"))
    pairs = work.every_key() + work.batch(150)
    gb = collections.Counter()
    for i, c in enumerate(work.customers):
        for k in range(4):
            q = ("0.3", "0.45", "1.25", "0.125")[(i + k) % 4]
            gb[c] += decimal.Decimal(q)
            pairs.append((c, '{"customer":"%s","dimension":"data_gb","quantity":%s,'
                          '"timestamp":%d}' % (c, q, (hours.ago(2) + k * 600000) // 1000)))
    H.kcat_produce(h, bootstrap, pairs)
    # The printed sample, run as printed (its event has no timestamp: it
    # lands in the current hour, which does not close during the test).
    r = subprocess.run(["bash", "-c", sample], capture_output=True, text=True, timeout=60)
    H.check(r.returncode == 0, "the printed kcat sample failed (%d): %s" %
            (r.returncode, r.stderr))

    expected = collections.Counter()
    for ev in work.sent.values():
        expected[(ev["customer"], ev["dimension"])] += (ev["quantity"]
                                                        if ev["dimension"] == "api_calls" else 1)
    for c, total in gb.items():
        expected[(c, "data_gb")] = int(total.quantize(decimal.Decimal(1),
                                                      rounding=decimal.ROUND_HALF_UP))

    # meterd run with the printed config and credentials, nothing else.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METERD_"))}
    env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    log_path = h.path("run.log")
    h.logs.append(log_path)
    with open(log_path, "wb") as log_file:
        run = subprocess.Popen([H.BIN, "run", "--config", config], stdout=log_file,
                               stderr=subprocess.STDOUT, env=env, cwd=h.dir)

    class Proc:
        proc = run

        def alive(self):
            return run.poll() is None
    h.procs.append(Proc())

    last = [None]

    def billed():
        got = collections.Counter()
        for rec in e2e.http_json(url + "/_emulator/records")["records"]:
            key = (rec["customer_identifier"], rec["dimension"])
            if key == SAMPLE_KEY and rec["quantity"] == SAMPLE_QUANTITY:
                continue  # the sample's hour closed: the test ran across an hour's end
            got[key] += rec["quantity"]
        last[0] = e2e.diff_counters("accepted units", expected, got)
        H.check(run.poll() is None, "meterd run exited %s" % run.poll())
        return not last[0]

    H.wait_until(billed, 90, "the sandbox emulator to accept what was produced", interval=1.0,
                 detail=lambda: "\n".join(last[0]))
    stats = e2e.http_json(url + "/_emulator/stats")
    H.check(stats["records"]["duplicate"] == 0 and stats["requests"]["auth_failed"] == 0,
            "emulator stats: %s" % stats)
    rows = e2e.records_list(["--config", config], "json")
    H.check(rows and all(r["status"] == "accepted" for r in rows),
            "ledger statuses: %s" % collections.Counter(r["status"] for r in rows))

    run.send_signal(signal.SIGTERM)
    rc = run.wait(30)
    H.check(rc == 0, "meterd run exited %s after SIGTERM" % rc)
    with open(log_path, "rb") as f:
        counts = e2e.run_log_counts(f.read().decode("utf-8", "replace"))
    H.check(counts is not None, "meterd run printed no `stopped:` line")
    H.check(counts["messages"] == len(pairs) + 1 and counts["rejected"] == 0,
            "meterd run read %d message(s) and rejected %d; %d were produced plus the sample" %
            (counts["messages"], counts["rejected"], len(pairs)))
    H.log("billed %d records (%d units) through the sandbox" %
          (len(rows), sum(expected.values())))
    sb.stop()


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("sandbox").run(main)
