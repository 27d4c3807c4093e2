"""Shared machinery of the end-to-end billing tests (Kafka -> meterd run ->
ledger -> Metering emulator): the emulator as its own process, configs that
name it, a workload of integer quantities with tags produced by kcat, the
emulator's accepted records and the ledger read back, and `meterd records
list` output parsed back from table, CSV and JSON.

Processes, the temporary directory and the logs printed on failure come
from harness.py (Harness, MockKafka, Meterd).

Why every event ends in a closed hour. Events are stamped in complete past
hours. An hour closes once the partitions are caught up and the wall clock
is past its end + lateness; an event that arrives after its hour closed is
folded into the first hour not closed (DESIGN.md section 4). With a fixed
short lateness the newest past hour would close too, and events still
arriving would fold into the current hour, which closes only when it is
over. So, as in harness.py, the lateness is computed (H.lateness_for):
while events are produced in hours.ago(4..2), only hours up to ago(2) may
close and late events collect in ago(1); once production stopped, a last
run with lateness_for(ago(1)) closes ago(1). Every quantity is an integer,
so the units AWS bills per (customer, dimension) equal the units produced
exactly, whatever the rounding rule."""
import collections
import csv
import io
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request

import harness as H

PRODUCT = "prod-e2e"
DIMENSIONS = ("api_calls", "storage_gb", "reports")
KEY_ID = "AKIDE2EEXAMPLE"
SECRET = "e2e-secret-key-example"
TEAMS = ("search", "ads", "infra")
# The ledger's record statuses in ledger/ledger.h order.
STATUS_NAMES = ("pending_commit", "sendable", "in_flight", "accepted", "duplicate",
                "not_subscribed", "parked", "stale_moved")
ACCEPTED = STATUS_NAMES.index("accepted")


def use_credentials(key_id=KEY_ID, secret=SECRET):
    """meterd run's sender takes its credentials from the environment,
    which harness.Meterd passes on to every process it starts."""
    os.environ["AWS_ACCESS_KEY_ID"] = key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = secret
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def write_config(h, name, mock, lateness, endpoint="http://127.0.0.1:1", ledger=None,
                 extra=None):
    """A config for both `meterd emulator` and `meterd run`: the product,
    the emulator's credentials, the Kafka settings the mock cluster needs,
    aws.endpoint = the emulator. Returns (path, ledger path)."""
    ledger = ledger or h.path(name + ".db")
    config = {
        "kafka": {"bootstrap.servers": mock.bootstrap, "group.id": h.group,
                  "topics": [H.TOPIC], "dead_letter_topic": H.DLQ_TOPIC,
                  "properties": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
                                 "fetch.wait.max.ms": "50"}},
        "aws": {"region": "us-east-1", "endpoint": endpoint},
        "products": [{"product_code": PRODUCT,
                      "dimensions": [{"name": d, "rounding": "up"} for d in DIMENSIONS]}],
        "window": {"lateness": lateness},
        "ledger": {"path": ledger},
        "emulator": {"credentials": [{"access_key_id": KEY_ID, "secret_access_key": SECRET}]},
    }
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    path = h.path(name + ".json")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path, ledger


class Emulator:
    """`meterd emulator --listen 127.0.0.1:0` in its own process; the port
    is read from its log. Registered with the harness so that it is stopped
    and its log printed on failure."""

    def __init__(self, h, config_path, faults=(), name="emulator"):
        self.h = h
        self.log_path = h.path(name + ".log")
        h.logs.append(self.log_path)
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [H.BIN, "emulator", "--listen", "127.0.0.1:0", "--config", config_path] + list(faults),
            stdout=self.log_file, stderr=subprocess.STDOUT)
        h.procs.append(self)
        m = H.wait_until(self._port, 20, "the emulator to listen",
                         detail=lambda: self.log_text())
        self.url = "http://127.0.0.1:%s" % m

    def _port(self):
        H.check(self.alive(), "meterd emulator exited %s: %s" %
                (self.proc.returncode, self.log_text()))
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log_text())
        return m.group(1) if m else None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def records(self):
        return http_json(self.url + "/_emulator/records")

    def stats(self):
        return http_json(self.url + "/_emulator/stats")

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise H.TestFailure("meterd emulator did not stop within 15 s of SIGTERM")
            H.check(rc == 0, "meterd emulator exited %s after SIGTERM" % rc)


class Workload:
    """Valid events with integer quantities, some with tags, keyed by
    customer, over the given hours. `sent` keeps every event by id."""

    def __init__(self, seed, hours, customers=12, dimensions=DIMENSIONS, prefix="e"):
        self.rng = random.Random(seed)
        self.hours = list(hours)
        self.customers = ["cust-%03d" % i for i in range(customers)]
        self.dimensions = list(dimensions)
        self.prefix = prefix
        self.sent = {}

    def event(self, customer=None, dimension=None, hour=None, quantity=None):
        eid = "%s-%d" % (self.prefix, len(self.sent) + 1)
        c = customer or self.rng.choice(self.customers)
        d = dimension or self.rng.choice(self.dimensions)
        hour = hour if hour is not None else self.rng.choice(self.hours)
        ts = hour + self.rng.randrange(H.HOUR_MS)
        q = quantity if quantity is not None else self.rng.randint(1, 25)
        ev = {"id": eid, "customer": c, "dimension": d, "quantity": q,
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000)) +
              ".%03dZ" % (ts % 1000)}
        r = self.rng.random()
        if r < 0.3:
            ev["tags"] = {"team": self.rng.choice(TEAMS)}
        elif r < 0.4:
            ev["tags"] = {"team": self.rng.choice(TEAMS), "env": "prod"}
        self.sent[eid] = ev
        return c, json.dumps(ev, separators=(",", ":"))

    def batch(self, n):
        return [self.event() for _ in range(n)]

    def every_key(self):
        """One event for every (customer, dimension, hour)."""
        return [self.event(c, d, hr) for c in self.customers for d in self.dimensions
                for hr in self.hours]


def tag_key(tags):
    return tuple(sorted((tags or {}).items()))


def topic_truth(bootstrap):
    """What the topic holds (the ground truth, producer retries included):
    {event id: count} and the units per (customer, dimension) and per
    (customer, dimension, tags)."""
    ids = collections.Counter()
    totals = collections.Counter()
    by_tags = collections.Counter()
    for msgs in H.read_topic(bootstrap).values():
        for m in msgs:
            ev = json.loads(m.value)
            ids[ev["id"]] += 1
            totals[(ev["customer"], ev["dimension"])] += ev["quantity"]
            by_tags[(ev["customer"], ev["dimension"], tag_key(ev.get("tags")))] += ev["quantity"]
    return ids, totals, by_tags


def accepted_totals(emulator_records):
    """Units AWS (the emulator) accepted per (customer, dimension) and per
    (customer, dimension, tags) from its allocations; a record without
    allocations counts as untagged."""
    totals = collections.Counter()
    by_tags = collections.Counter()
    for r in emulator_records:
        c = r.get("customer_identifier") or r.get("customer_aws_account_id")
        totals[(c, r["dimension"])] += r["quantity"]
        allocs = r.get("allocations") or [{"quantity": r["quantity"], "tags": {}}]
        for a in allocs:
            by_tags[(c, r["dimension"], tag_key(a.get("tags")))] += a["quantity"]
    return totals, by_tags


def accepted_units(em):
    """What the emulator accepted: units per (customer, dimension)."""
    got = collections.Counter()
    for r in em.records()["records"]:
        got[(r["customer_identifier"], r["dimension"])] += r["quantity"]
    return got


def diff_counters(what, expected, got, limit=12):
    """Problems, one line per differing key."""
    out = []
    for k in sorted(set(expected) | set(got), key=repr):
        if expected[k] != got[k]:
            out.append("%s %s: expected %d, got %d" % (what, k, expected[k], got[k]))
    if len(out) > limit:
        out = out[:limit] + ["... %d keys differ in all" % len(out)]
    return out


def ledger_rows(path):
    """The ledger's records read with sqlite3 (independent of meterd's own
    query code): dicts with customer, dimension, hour (ms), aws quantity
    and status name."""
    if not os.path.exists(path):
        return []
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        db.execute("PRAGMA busy_timeout=30000")
        try:
            rows = db.execute("SELECT id, customer, dimension, hour_ms, aws_quantity, status"
                              " FROM records").fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise
    finally:
        db.close()
    return [dict(id=r[0], customer=r[1], dimension=r[2], hour=r[3], aws=r[4],
                 status=STATUS_NAMES[r[5]] if 0 <= r[5] < len(STATUS_NAMES) else str(r[5]))
            for r in rows]


def billing_problems(emulator, ledger_path, truth_totals, truth_tags=None):
    """Everything that still differs between what was produced, what the
    emulator accepted and what the ledger says; [] when the job is done."""
    got = emulator.records()
    totals, by_tags = accepted_totals(got["records"])
    problems = diff_counters("accepted units", truth_totals, totals)
    if truth_tags is not None and not problems:
        problems += diff_counters("accepted units by tags", truth_tags, by_tags)
    rows = ledger_rows(ledger_path)
    statuses = collections.Counter(r["status"] for r in rows)
    if not rows or set(statuses) != {"accepted"}:
        problems.append("ledger record statuses: %s" % dict(statuses))
    elif len(rows) != got["count"]:
        problems.append("ledger has %d accepted records, the emulator %d" %
                        (len(rows), got["count"]))
    return problems


def wait_billed(emulator, ledger_path, truth_totals, timeout, truth_tags=None):
    """Waits until billing_problems() is empty; fails with the last ones."""
    last = [None]

    def done():
        last[0] = billing_problems(emulator, ledger_path, truth_totals, truth_tags)
        return not last[0]

    H.wait_until(done, timeout, "every produced unit to be accepted and every ledger record "
                 "to be accepted", interval=1.0, detail=lambda: "\n".join(last[0] or []))


# ---------------------------------------------------------- records list


def records_list(args, fmt):
    """Runs `meterd records list ARGS --format FMT` and parses its output
    back into a list of dicts of strings (JSON: of JSON values)."""
    # Bytes, not text mode: CSV's CRLF must reach the parser as it is.
    r = subprocess.run([H.BIN, "records", "list"] + list(args) + ["--format", fmt],
                       capture_output=True, timeout=60)
    out = r.stdout.decode("utf-8")
    H.check(r.returncode == 0, "meterd records list %s --format %s exited %d: %s" %
            (" ".join(args), fmt, r.returncode, r.stderr.decode("utf-8", "replace")))
    if fmt == "json":
        return json.loads(out)
    if fmt == "csv":
        H.check(out.endswith("\r\n") and "\n" not in out.replace("\r\n", ""),
                "CSV lines must end in CRLF (RFC 4180): %r" % out[:200])
        rows = list(csv.reader(io.StringIO(out, newline="")))
        H.check(rows, "CSV output has no header line")
        header = rows[0]
        for row in rows[1:]:
            H.check(len(row) == len(header), "CSV row has %d fields, header %d: %r" %
                    (len(row), len(header), row))
        return [dict(zip(header, row)) for row in rows[1:]]
    return parse_table(out)


def parse_table(text):
    """An aligned table: the header's words give each column's start; a
    cell is the text from its column start to the next one, stripped (so
    empty cells are kept)."""
    lines = text.splitlines()
    H.check(lines, "table output is empty (no header)")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    out = []
    for ln in lines[1:]:
        cells = []
        for i, s in enumerate(starts):
            e = starts[i + 1] if i + 1 < len(starts) else None
            if i + 1 < len(starts):
                H.check(len(ln) <= e or ln[e - 1] == " ",
                        "table column %s runs into the next one: %r" % (names[i], ln))
            cells.append(ln[s:e].strip())
        out.append(dict(zip(names, cells)))
    return out


def iso_hour_seconds(sec):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))


def run_log_counts(text):
    """The numbers of the last `stopped:` line of a meterd run log."""
    for line in reversed(text.splitlines()):
        m = re.search(r"stopped: (\d+) message\(s\), (\d+) counted, (\d+) replayed, "
                      r"(\d+) rejected, (\d+) close", line)
        if m:
            return dict(zip(("messages", "counted", "replayed", "rejected", "closes"),
                            map(int, m.groups())))
    return None
