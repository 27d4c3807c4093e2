"""Shared machinery of the `meterd run` integration tests: a mock Kafka
cluster in its own process (it outlives every meterd kill), meterd processes
with their logs in files, event production with known quantities, reading
the topic back, reading ledgers with sqlite3, and the exactly-once check.

How hours are made to close. An hour H closes when an instance's partitions
are caught up and the wall clock is past end(H) + lateness (or the watermark
is). The tests cannot move meterd's clock, so they move the lateness
instead: `lateness_for(frontier)` gives a lateness with which every hour up
to `frontier` may close now and the next hour cannot close for the next
hour of wall time. Events produced while an instance runs use hours up to
the frontier; an event of an already closed hour is folded into the oldest
open hour (DESIGN.md section 4), at most frontier + 1, which the last
instance (started after production stopped, with frontier + 1) closes. So
every produced event ends in a closed hour, whatever the timing.

The exactly-once check (`check_exact`) is computed, not guessed: it reads
every message of the topic back (the ground truth of what was produced,
producer retries included), takes the close log of each partition from the
ledgers (confirmed close parts only), gives every valid event its effective
hour by the rule max(hour(t), first hour not closed as of its offset), and
compares per (customer, dimension, hour) with the sendable records of all
ledgers. A double count, a loss, an event in the wrong hour, an hour closed
twice or a key sendable in two ledgers each fail with the numbers."""
import collections
import decimal
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOUR_MS = 3600 * 1000
TOPIC = "usage"
DLQ_TOPIC = "usage.dlq"
PARTITIONS = 8
PRODUCT = "prod-itest"
# Sum dimensions with each rounding rule.
DIMENSIONS = (("api_calls", "up"), ("storage_gb", "nearest"), ("reports", "down"))
# Quantities with exact micro-unit sums (0.25 four times is exactly 1).
QUANTITIES = ("0.25", "1", "0.5", "2.75", "0.125", "3", "0.000001", "12.5", "7")

BIN = os.environ.get("MTR_BIN")
SOURCE_DIR = os.environ.get("MTR_SOURCE_DIR")
BUILD_DIR = os.environ.get("MTR_BUILD_DIR")


class TestFailure(Exception):
    pass


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def wait_until(fn, timeout, what, interval=0.25, detail=None):
    """Calls fn until it returns something truthy (returned) or timeout
    seconds passed (TestFailure naming `what`, plus detail() if given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ""
            if detail:
                try:
                    extra = "\n" + str(detail())
                except Exception as e:  # the detail must not hide the timeout
                    extra = "\n(detail failed: %r)" % e
            raise TestFailure("timed out after %.0f s waiting for %s%s" % (timeout, what, extra))
        time.sleep(interval)


def micro(quantity):
    return int(decimal.Decimal(quantity) * 1000000)


def hour_floor(ms):
    return ms - ms % HOUR_MS


def now_ms():
    return int(time.time() * 1000)


def iso_hour(ms):
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(ms // 1000))


class Hours:
    """Absolute hours fixed at the start of a test: ago(k) is the start of
    the hour k hours before the current one (k >= 1)."""

    def __init__(self):
        self.current = hour_floor(now_ms())

    def ago(self, k):
        return self.current - k * HOUR_MS


def lateness_for(frontier_hour_ms):
    """A window.lateness with which hours <= frontier may close now and
    frontier + 1 cannot close before an hour has passed."""
    lateness_s = (now_ms() - (frontier_hour_ms + HOUR_MS)) // 1000 - 5
    return "%ds" % max(0, lateness_s)


def require_environment(need_kcat=False):
    if not BIN or not os.path.exists(BIN):
        skip("MTR_BIN is not set or meterd is not built")
    try:
        import kafka  # noqa: F401
    except ImportError:
        skip("kafka-python (python3-kafka) is not installed")
    if need_kcat and not shutil.which("kcat"):
        skip("kcat is not installed")
    probe = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    if "mock-kafka" not in probe.stdout + probe.stderr:
        skip("this meterd has no mock-kafka command")


# ---------------------------------------------------------------- processes


class MockKafka:
    """`meterd mock-kafka` in its own process; control lines on its stdin."""

    def __init__(self, harness, brokers=1, topics=None):
        self.h = harness
        topics = topics or ["%s:%d" % (TOPIC, PARTITIONS), DLQ_TOPIC + ":1"]
        args = [BIN, "mock-kafka", "--brokers", str(brokers)]
        for t in topics:
            args += ["--topic", t]
        self.log_path = harness.path("mock-kafka.log")
        self.log_file = open(self.log_path, "ab")
        harness.logs.append(self.log_path)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log_file, text=True, bufsize=1)
        harness.mocks.append(self)
        line = self.proc.stdout.readline().strip()
        check(line.startswith("bootstrap.servers="),
              "meterd mock-kafka did not print bootstrap.servers (got %r); see %s" %
              (line, self.log_path))
        self.bootstrap = line.split("=", 1)[1]
        self.lock = threading.Lock()

    def control(self, line):
        with self.lock:
            check(self.proc.poll() is None,
                  "mock-kafka died (exit %s) before %r" % (self.proc.returncode, line))
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline().strip()
        check(answer == "ok", "mock-kafka control %r answered %r" % (line, answer))
        log("mock-kafka: %s -> ok" % line)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Meterd:
    """One `meterd run` instance (a name, a config, a ledger). Every start
    writes a new log file; all of them are printed when a test fails."""

    def __init__(self, harness, name, config_path, ledger_path):
        self.h = harness
        self.name = name
        self.config_path = config_path
        self.ledger = ledger_path
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.log_file = None

    def start(self, fault=None, log_level="info"):
        check(self.proc is None or self.proc.poll() is not None,
              "%s started while running" % self.name)
        self.starts += 1
        self.log_path = self.h.path("%s.%02d.log" % (self.name, self.starts))
        self.h.logs.append(self.log_path)
        self.log_file = open(self.log_path, "wb")
        env = dict(os.environ)
        env.pop("METERD_FAULT", None)
        if fault:
            env["METERD_FAULT"] = fault
        # ASan's leak report after SIGKILL/SIGTERM is noise here.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.fault = fault
        self.proc = subprocess.Popen(
            [BIN, "run", "--config", self.config_path, "--log-level", log_level],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        self.h.procs.append(self)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        return self.proc.poll() if self.proc else None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        return self.wait(30)

    def term(self, timeout=30):
        """SIGTERM, wait; a clean stop must exit 0 within timeout."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("%s did not stop within %d s of SIGTERM; see %s" %
                              (self.name, timeout, self.log_path))
        self.log_file.close()
        check(rc == 0, "%s exited %s after SIGTERM; see %s" % (self.name, rc, self.log_path))
        return rc

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.log_file and not self.log_file.closed:
            self.log_file.close()
        return rc

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log_text(self, which=None):
        path = which or self.log_path
        if not path or not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def all_logs(self):
        out = []
        for i in range(1, self.starts + 1):
            p = self.h.path("%s.%02d.log" % (self.name, i))
            out.append(self.log_text(p))
        return "\n".join(out)

    def wait_log(self, needle, timeout, what=None):
        return wait_until(lambda: needle in self.log_text(), timeout,
                          what or "%r in %s" % (needle, self.log_path),
                          detail=lambda: self.tail())

    def tail(self, n=30):
        lines = self.log_text().splitlines()
        return "\n".join("  | " + ln for ln in lines[-n:])

    def assigned(self):
        """Partitions assigned minus revoked/lost, from the current log."""
        owned = set()
        for line in self.log_text().splitlines():
            if "assigned %s[" % TOPIC in line:
                owned.add(int(line.split("[", 1)[1].split("]", 1)[0]))
            elif ("revoked %s[" % TOPIC in line) or ("lost %s[" % TOPIC in line):
                owned.discard(int(line.split("[", 1)[1].split("]", 1)[0]))
        return owned


class Harness:
    """A temporary directory, the processes of one test and their logs.
    Use as a context manager; `run(main)` turns failures into exit codes."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="meterd-%s-" % name)
        self.procs = []
        self.mocks = []
        self.logs = []
        self.group = "meterd-%s-%d" % (name, os.getpid())

    def path(self, name):
        return os.path.join(self.dir, name)

    def mock(self, brokers=1, topics=None):
        return MockKafka(self, brokers, topics)

    def write_config(self, name, mock, lateness, ledger=None, dead_letter=True,
                     properties=None, shards=2, max_message_bytes=None):
        ledger = ledger or self.path(name + ".db")
        props = {
            # The mock group waits session.timeout.ms - 1 s before admitting a
            # member after one died or left: keep it short.
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "500",
            "fetch.wait.max.ms": "50",
        }
        props.update(properties or {})
        config = {
            "kafka": {"bootstrap.servers": mock.bootstrap, "group.id": self.group,
                      "topics": [TOPIC], "properties": props},
            "products": [{"product_code": PRODUCT,
                          "dimensions": [{"name": d, "rounding": r} for d, r in DIMENSIONS]}],
            "window": {"lateness": lateness},
            "ledger": {"path": ledger},
            "shards": shards,
        }
        if dead_letter:
            config["kafka"]["dead_letter_topic"] = DLQ_TOPIC
        if max_message_bytes:
            config["events"] = {"max_message_bytes": max_message_bytes}
        path = self.path(name + ".json")
        with open(path, "w") as f:
            json.dump(config, f, indent=1)
        return path, ledger

    def meterd(self, name, config_path, ledger_path):
        return Meterd(self, name, config_path, ledger_path)

    def stop_all(self):
        for p in self.procs:
            if p.alive():
                p.proc.send_signal(signal.SIGCONT)
                p.proc.kill()
                p.proc.wait()
        for m in self.mocks:
            m.stop()

    def dump_logs(self, max_lines=150):
        for path in self.logs:
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
            print("----- %s (%d lines%s) -----" %
                  (os.path.basename(path), len(lines),
                   ", last %d" % max_lines if len(lines) > max_lines else ""))
            for ln in lines[-max_lines:]:
                print("  | " + ln)

    def run(self, main):
        started = time.monotonic()
        code = 0
        try:
            main(self)
            log("PASS %s in %.0f s" % (self.name, time.monotonic() - started))
        except TestFailure as e:
            code = 1
            print("FAIL %s: %s" % (self.name, e), flush=True)
        except Exception:
            code = 1
            print("FAIL %s: unexpected error" % self.name)
            traceback.print_exc()
        finally:
            self.stop_all()
            if code:
                self.dump_logs()
                print("files kept in %s" % self.dir)
            elif os.environ.get("METERD_TEST_KEEP"):
                print("files kept in %s (METERD_TEST_KEEP)" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        sys.stdout.flush()
        sys.exit(code)


# ------------------------------------------------------------------ events


def customer_name(i):
    return "cust-%03d" % i


class OnePass:
    """Values per key from events folded in event order, by the README's
    aggregation rules: sum and count add, max keeps the largest, latest
    the value of the latest event time (the larger value at a tie)."""

    def __init__(self):
        self.values = {}
        self.latest_at = {}

    def add(self, key, aggregation, quantity, ts_ms):
        out = self.values
        if aggregation == "sum":
            out[key] = out.get(key, 0) + quantity
        elif aggregation == "count":
            out[key] = out.get(key, 0) + 1
        elif aggregation == "max":
            out[key] = max(out.get(key, quantity), quantity)
        elif key not in out or (ts_ms, quantity) > (self.latest_at[key], out[key]):
            out[key], self.latest_at[key] = quantity, ts_ms


def event_json(customer, dimension, quantity, ts_ms, eid):
    """A usage event; quantity is a decimal string written as a JSON
    number, the timestamp is RFC 3339 with milliseconds."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000))
    return ('{"id":"%s","customer":"%s","dimension":"%s","quantity":%s,"timestamp":"%s.%03dZ"}'
            % (eid, customer, dimension, quantity, ts, ts_ms % 1000))


class EventGen:
    """Random valid events with known quantities, keyed by customer."""

    def __init__(self, seed, customers=24, prefix="e"):
        self.rng = random.Random(seed)
        self.customers = [customer_name(i) for i in range(customers)]
        self.prefix = prefix
        self.n = 0

    def one(self, hour_ms, customer=None):
        self.n += 1
        c = customer or self.rng.choice(self.customers)
        d = self.rng.choice(DIMENSIONS)[0]
        q = self.rng.choice(QUANTITIES)
        ts = hour_ms + self.rng.randrange(HOUR_MS)
        return c, event_json(c, d, q, ts, "%s-%d" % (self.prefix, self.n))

    def batch(self, hours, n):
        """n events spread over hours, sorted by time (as a real producer
        would write them)."""
        out = [self.one(self.rng.choice(hours)) for _ in range(n)]
        out.sort(key=lambda kv: json.loads(kv[1])["timestamp"])
        return out


class Producer:
    """kafka-python producer keyed by customer; flush() waits for acks."""

    def __init__(self, bootstrap, **kw):
        import kafka
        opts = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=50,
                    retry_backoff_ms=200, request_timeout_ms=10000)
        opts.update(kw)
        self.p = kafka.KafkaProducer(**opts)
        self.sent = 0

    def send(self, key, value, topic=TOPIC, headers=None, partition=None):
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        self.sent += 1
        return self.p.send(topic, key=key, value=value, headers=headers, partition=partition)

    def send_all(self, pairs, topic=TOPIC):
        for k, v in pairs:
            self.send(k, v, topic)
        self.p.flush(60)

    def flush(self):
        self.p.flush(60)

    def close(self):
        self.p.close(10)


def kcat_produce(harness, bootstrap, pairs, topic=TOPIC):
    """Produces key:value lines with kcat (librdkafka, independent of
    meterd's producer code)."""
    path = harness.path("kcat-input-%d.txt" % int(time.monotonic() * 1000))
    with open(path, "w") as f:
        for k, v in pairs:
            check("\n" not in v and ":" not in k, "kcat line format: %r" % k)
            f.write("%s:%s\n" % (k, v))
    r = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K:", "-l", path],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "kcat -P failed (%d): %s" % (r.returncode, r.stderr))


Message = collections.namedtuple("Message", "partition offset key value headers")


def read_topic(bootstrap, topic=TOPIC, timeout=60):
    """Every message of topic, by partition, in offset order."""
    import kafka
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                            max_partition_fetch_bytes=16 * 1024 * 1024,
                            fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = wait_until(lambda: c.partitions_for_topic(topic), 30,
                           "metadata of topic %s" % topic)
        tps = [kafka.TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < ends[tp] for tp in tps):
            check(time.monotonic() < deadline, "reading back %s timed out" % topic)
            for tp, msgs in c.poll(500, max_records=100000).items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        out[tp.partition].append(
                            Message(tp.partition, m.offset, m.key, m.value, list(m.headers)))
        for p in out:
            offs = [m.offset for m in out[p]]
            check(offs == sorted(set(offs)), "%s[%d] read back out of order" % (topic, p))
        return out
    finally:
        c.close()


def committed_offsets(bootstrap, group, topic=TOPIC):
    """The consumer group's committed offsets and metadata by partition
    (read with OffsetFetch, without joining the group)."""
    import kafka
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                            enable_auto_commit=False)
    try:
        parts = wait_until(lambda: c.partitions_for_topic(topic), 30, "metadata")
        out = {}
        for p in sorted(parts):
            tp = kafka.TopicPartition(topic, p)
            om = c._coordinator.fetch_committed_offsets([tp]).get(tp)
            out[p] = (om.offset, om.metadata) if om else (-1, "")
        ends = c.end_offsets([kafka.TopicPartition(topic, p) for p in parts])
        return out, {tp.partition: off for tp, off in ends.items()}
    finally:
        c.close()


def cluster_layout(bootstrap, group, topic=TOPIC):
    """(group coordinator broker id, {partition: leader broker id})."""
    import kafka
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                            enable_auto_commit=False)
    try:
        parts = wait_until(lambda: c.partitions_for_topic(topic), 30, "metadata")
        c._coordinator.ensure_coordinator_ready()
        leaders = {p: c._client.cluster.leader_for_partition(kafka.TopicPartition(topic, p))
                   for p in parts}
        coordinator = c._coordinator.coordinator_id  # "coordinator-<broker id>"
        return int(str(coordinator).rsplit("-", 1)[-1]), leaders
    finally:
        c.close()


def decode_valid(msg):
    """(customer, dimension, micro-units, time ms) of a valid test event,
    or None for anything meterd must reject."""
    try:
        e = json.loads(msg.value)
        ts = e["timestamp"]
        t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
        ms = int(__import__("calendar").timegm(t)) * 1000 + int(ts[20:23])
        if e["dimension"] not in [d for d, _ in DIMENSIONS] or str(e["quantity"]).startswith("-"):
            return None
        return e["customer"], e["dimension"], micro(json.dumps(e["quantity"])), ms
    except Exception:
        return None


# ------------------------------------------------------------------ ledgers


class LedgerView:
    """A read-only snapshot of one ledger file."""

    def __init__(self, path):
        self.path = path
        self.records = []
        self.closes = []  # confirmed close-log entries (topic, part, hour, offset)
        self.pending_parts = 0
        self.parts = collections.Counter()
        if not os.path.exists(path):
            return
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            try:
                rows = db.execute(
                    "SELECT id, customer, dimension, hour_ms, quantity_micro, aws_quantity,"
                    " status FROM records").fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return  # created, not yet migrated
                raise
            self.records = [dict(id=r[0], customer=r[1], dimension=r[2], hour=r[3],
                                 micro=r[4], aws=r[5], status=r[6]) for r in rows]
            self.closes = db.execute(
                "SELECT l.topic, l.part, l.hour_ms, l.close_offset FROM close_log l"
                " JOIN close_parts p ON p.close_id = l.close_id AND p.topic = l.topic"
                " AND p.part = l.part WHERE p.state = 1").fetchall()
            for state, n in db.execute("SELECT state, count(*) FROM close_parts GROUP BY state"):
                self.parts[state] = n
            self.pending_parts = self.parts.get(0, 0)
        finally:
            db.close()

    def sendable(self):
        return {(r["customer"], r["dimension"], r["hour"]): r for r in self.records
                if r["status"] == 1}

    def by_status(self):
        return collections.Counter(r["status"] for r in self.records)


def check_exact(bootstrap, ledger_paths, messages=None, expect_no_pending=True):
    """The exactly-once check (see the module comment). Returns a summary
    dict; raises TestFailure listing every discrepancy found."""
    messages = messages if messages is not None else read_topic(bootstrap)
    views = [LedgerView(p) for p in ledger_paths]
    problems = []

    # The close log of each partition: the union of the ledgers' confirmed
    # entries. One hour must be closed once per partition.
    lineage = collections.defaultdict(dict)
    for v in views:
        for topic, part, hour, off in v.closes:
            if topic != TOPIC:
                continue
            prev = lineage[part].get(hour)
            if prev is not None:
                problems.append("%s[%d] hour %s closed twice (offset %d in %s, offset %d in %s)" %
                                (topic, part, iso_hour(hour), prev[0], prev[1], off,
                                 os.path.basename(v.path)))
            lineage[part][hour] = (off, os.path.basename(v.path))
    logs = {}
    for part, entries in lineage.items():
        items = sorted((h, o) for h, (o, _) in entries.items())
        offs = [o for _, o in items]
        if offs != sorted(offs):
            problems.append("%s[%d] close log offsets go backwards: %s" %
                            (TOPIC, part, [(iso_hour(h), o) for h, o in items]))
        logs[part] = items

    expected = collections.Counter()
    open_events = collections.Counter()
    produced = collections.Counter()
    n_valid = 0
    for part, msgs in messages.items():
        items = logs.get(part, [])
        last_closed = items[-1][0] if items else None
        for m in msgs:
            ev = decode_valid(m)
            if ev is None:
                continue
            n_valid += 1
            c, d, q, t = ev
            produced[(c, d)] += q
            closed_through = None
            for h, co in items:
                if co <= m.offset:
                    closed_through = h if closed_through is None else max(closed_through, h)
            eff = hour_floor(t)
            if closed_through is not None and eff <= closed_through:
                eff = closed_through + HOUR_MS
            if last_closed is not None and eff <= last_closed:
                expected[(c, d, eff)] += q
            else:
                open_events[(part, iso_hour(eff))] += 1

    got = collections.Counter()
    owner = {}
    for v in views:
        for key, r in v.sendable().items():
            if key in owner:
                problems.append("%s/%s hour %s is sendable in two ledgers: %s and %s" %
                                (key[0], key[1], iso_hour(key[2]), owner[key],
                                 os.path.basename(v.path)))
            owner[key] = os.path.basename(v.path)
            got[key] += r["micro"]
        odd = {s: n for s, n in v.by_status().items() if s not in (0, 1)}
        if odd:
            problems.append("%s: records in unexpected statuses %s (nothing sends here)" %
                            (os.path.basename(v.path), odd))

    if open_events:
        problems.append("valid events whose effective hour never closed (partition, hour): %s"
                        % dict(sorted(open_events.items())[:20]))
    keys = sorted(set(expected) | set(got))
    bad = [(k, expected[k], got[k]) for k in keys if expected[k] != got[k]]
    for (c, d, h), e, g in bad[:15]:
        problems.append("%s/%s hour %s: produced %d micro-units, ledgers have %d (%+d)" %
                        (c, d, iso_hour(h), e, g, g - e))
    if len(bad) > 15:
        problems.append("... %d (customer, dimension, hour) keys differ in all" % len(bad))
    totals = collections.Counter()
    for (c, d, _), g in got.items():
        totals[(c, d)] += g
    for k in sorted(set(produced) | set(totals)):
        if produced[k] != totals[k]:
            problems.append("total %s/%s: produced %d micro-units, sendable %d (%+d)" %
                            (k[0], k[1], produced[k], totals[k], totals[k] - produced[k]))
    pending = [(os.path.basename(v.path), v.by_status().get(0, 0), v.pending_parts)
               for v in views]
    if expect_no_pending and any(n or p for _, n, p in pending):
        problems.append("records/close parts still pending_commit: %s" % pending)
    if problems:
        raise TestFailure("exactly-once check failed:\n  " + "\n  ".join(problems))
    return {"valid_events": n_valid, "keys": len(got),
            "micro": sum(got.values()), "pending": pending,
            "hours_closed": {p: len(i) for p, i in logs.items()}}


def settle(bootstrap, ledger_paths, timeout, messages=None, expect_no_pending=True):
    """Waits until check_exact passes; on timeout fails with its last
    complaint."""
    messages = messages if messages is not None else read_topic(bootstrap)
    last = [None]

    def attempt():
        try:
            return check_exact(bootstrap, ledger_paths, messages, expect_no_pending)
        except TestFailure as e:
            last[0] = str(e)
            return None

    return wait_until(attempt, timeout, "the ledgers to match what was produced",
                      interval=0.5, detail=lambda: last[0])


def stopped_line(text):
    """The counts of the last `stopped:` log line, as a dict."""
    for line in reversed(text.splitlines()):
        if "stopped:" in line:
            words = line.split("stopped:", 1)[1].replace(",", "").split()
            out = {}
            for i in range(0, len(words) - 1):
                if words[i].isdigit():
                    out[words[i + 1].rstrip("(s)")] = int(words[i])
            return out
    return None
