"""`meterd run` with metrics.listen serves what on-call people scrape: valid
and invalid events produced with kcat show up in /metrics, parsed by the
independent parser of the Prometheus Python client, as exactly the counts
produced (messages, counted events, rejections per reason, hour closes,
partitions owned, build info), and /healthz answers 200 "ok" while the
pipeline is well.

Then a second instance sends to a Metering endpoint where nothing listens:
its sending passes fail, meterd_sender_consecutive_failures climbs, failed
records show up under their outcome, and /healthz turns 503 naming the
sender. Unknown paths answer 404, other methods 405."""
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

VALID = 40
INVALID = {"bad_json": 3, "negative_quantity": 2, "unknown_dimension": 4}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, path, method="GET"):
    """(status, headers, body text) of one request to 127.0.0.1:port."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return None, None, None


def scrape(port):
    """{(sample name, ((label, value), ...)): value} parsed by
    prometheus_client, plus the family types; None while not answering."""
    from prometheus_client.parser import text_string_to_metric_families
    status, headers, text = http(port, "/metrics")
    if status is None:
        return None
    H.check(status == 200, "/metrics answered %s: %s" % (status, text))
    ctype = headers.get("Content-Type", "")
    H.check(ctype.startswith("text/plain; version=0.0.4"),
            "/metrics Content-Type is %r, not the 0.0.4 text format" % ctype)
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    H.check(key in samples, "%s%s is missing from /metrics" % (name, labels or ""))
    return samples[key]


def invalid_events(hours):
    ts = hours.ago(3) + 600000
    ok = json.loads(H.event_json("cust-bad", "api_calls", "1", ts, "bad"))
    out = []
    for i in range(INVALID["bad_json"]):
        out.append(("cust-bad", '{"customer":"cust-bad","dimension":"api_calls","quantity":%d' % i))
    for i in range(INVALID["negative_quantity"]):
        out.append(("cust-bad", json.dumps(dict(ok, id="neg-%d" % i, quantity=-1 - i))))
    for i in range(INVALID["unknown_dimension"]):
        out.append(("cust-bad", json.dumps(dict(ok, id="dim-%d" % i, dimension="bogus_%d" % i))))
    return out


def start(h, inst, extra_args, env_extra=None):
    """Starts `meterd run` for a harness Meterd with extra flags (the
    harness's start() has none)."""
    inst.starts += 1
    inst.log_path = h.path("%s.%02d.log" % (inst.name, inst.starts))
    h.logs.append(inst.log_path)
    inst.log_file = open(inst.log_path, "wb")
    env = dict(os.environ)
    env.pop("METERD_FAULT", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    env.update(env_extra or {})
    inst.proc = subprocess.Popen(
        [H.BIN, "run", "--config", inst.config_path, "--log-level", "info"] + extra_args,
        stdout=inst.log_file, stderr=subprocess.STDOUT, env=env)
    h.procs.append(inst)
    return inst


def write_config(h, name, mock, hours, ledger, port, extra=None):
    path, ledger = h.write_config(name, mock, H.lateness_for(hours.ago(2)), ledger=ledger)
    with open(path) as f:
        config = json.load(f)
    config["metrics"] = {"listen": "127.0.0.1:%d" % port}
    config.update(extra or {})
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


def main(h):
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError:
        H.skip("prometheus_client (python3-prometheus-client) is not installed")
    hours = H.Hours()
    mock = h.mock()
    gen = H.EventGen(seed=7, customers=10, prefix="m")
    valid = gen.batch([hours.ago(4), hours.ago(3)], VALID)
    H.kcat_produce(h, mock.bootstrap, valid + invalid_events(hours))
    total = VALID + sum(INVALID.values())

    # ---- counting instance: --no-send
    port = free_port()
    ledger = h.path("metrics.db")
    cfg = write_config(h, "count", mock, hours, ledger, port)
    inst = start(h, h.meterd("count", cfg, ledger), ["--no-send"])

    def caught_up():
        got = scrape(port)
        if not got:
            return None
        samples, _ = got
        if (samples.get(("meterd_kafka_messages_total", ())) == total
                and samples.get(("meterd_hour_closes_total", ()), 0) >= 1):
            return got
        return None

    samples, types = H.wait_until(caught_up, 90, "/metrics to show all %d messages and a close"
                                  % total, detail=inst.tail)
    H.log("scraped %d samples" % len(samples))
    H.check(types.get("meterd_kafka_messages") == "counter",
            "meterd_kafka_messages_total is typed %r" % types.get("meterd_kafka_messages"))
    H.check(types.get("meterd_partitions_owned") == "gauge", "partitions_owned is not a gauge")
    H.check(value(samples, "meterd_events_counted_total") == VALID,
            "counted %s of %d valid events" % (value(samples, "meterd_events_counted_total"),
                                               VALID))
    H.check(value(samples, "meterd_events_replayed_total") == 0, "replayed on a first run")
    rejected = {dict(lb)["reason"]: v for (n, lb), v in samples.items()
                if n == "meterd_events_rejected_total"}
    H.check(len(rejected) >= 20, "only %d reasons exposed: %s" % (len(rejected), rejected))
    for reason, v in rejected.items():
        H.check(v == INVALID.get(reason, 0),
                'meterd_events_rejected_total{reason="%s"} is %s, produced %d' %
                (reason, v, INVALID.get(reason, 0)))
    H.check(value(samples, "meterd_partitions_owned") == H.PARTITIONS,
            "partitions owned %s, expected %d" % (value(samples, "meterd_partitions_owned"),
                                                  H.PARTITIONS))
    H.check(value(samples, "meterd_ledger_contributions_total") >= 1, "no contributions written")
    H.check(value(samples, "meterd_offset_commit_failures_total") == 0, "commit failures")
    versions = [dict(lb).get("version") for (n, lb), v in samples.items()
                if n == "meterd_build_info" and v == 1]
    H.check(len(versions) == 1 and versions[0], "meterd_build_info: %s" % versions)
    H.check(value(samples, "meterd_records_sent_total") == 0, "--no-send sent records")
    H.check(value(samples, "meterd_sender_consecutive_failures") == 0, "failures with --no-send")
    H.check(value(samples, "meterd_records_outcome_total", outcome="accepted") == 0,
            "accepted records with --no-send")

    status, _, body = http(port, "/healthz")
    H.check(status == 200 and body == "ok\n", "/healthz answered %s %r" % (status, body))
    status, _, _ = http(port, "/nothing-here")
    H.check(status == 404, "/nothing-here answered %s, not 404" % status)
    status, _, _ = http(port, "/metrics", method="POST")
    H.check(status == 405, "POST /metrics answered %s, not 405" % status)
    status, headers, body = http(port, "/metrics", method="HEAD")
    H.check(status == 200 and body == "", "HEAD /metrics answered %s with %d bytes" %
            (status, len(body or "")))
    inst.term()
    H.check(http(port, "/healthz")[0] is None, "the endpoint still answers after exit")

    # ---- sending instance: the Metering endpoint does not answer
    dead = free_port()
    port2 = free_port()
    cfg2 = write_config(h, "send", mock, hours, ledger, port2, extra={
        "aws": {"region": "us-east-1", "endpoint": "http://127.0.0.1:%d/" % dead},
        "emit": {"max_attempts": 1, "request_timeout": "1s"}})
    inst2 = start(h, h.meterd("send", cfg2, ledger), [], env_extra={
        "AWS_ACCESS_KEY_ID": "AKIDMETRICSTEST", "AWS_SECRET_ACCESS_KEY": "metrics-test-secret"})

    def unhealthy():
        status, _, body = http(port2, "/healthz")
        return (status, body) if status == 503 else None

    status, body = H.wait_until(unhealthy, 120, "/healthz to report the failing sender",
                                interval=1, detail=inst2.tail)
    H.check("sender" in body, "/healthz 503 body does not name the sender: %r" % body)
    samples, _ = scrape(port2)
    failures = value(samples, "meterd_sender_consecutive_failures")
    H.check(failures >= 5, "503 with only %s consecutive failures" % failures)
    again = sum(value(samples, "meterd_records_outcome_total", outcome=o)
                for o in ("retry_exhausted", "deferred"))
    sent = value(samples, "meterd_records_sent_total")
    H.check(sent > 0 and again == sent,
            "records sent %s, retry_exhausted+deferred %s (nothing can be accepted)" % (sent, again))
    H.check(value(samples, "meterd_records_outcome_total", outcome="accepted") == 0,
            "records accepted by an endpoint that does not exist")
    H.log("healthz: 503 %r after %d failed passes, %d record sends" % (body.strip(), failures,
                                                                        sent))
    inst2.term()


if __name__ == "__main__":
    H.require_environment(need_kcat=True)
    H.Harness("metrics").run(main)
