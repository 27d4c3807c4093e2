"""Invalid events never stop a partition: garbage bytes, a value over
events.max_message_bytes, invalid UTF-8, bad JSON, a negative quantity, an
unknown dimension (and a few more: not an object, a missing customer, a
timestamp past max_future_skew) each land in the dead-letter topic with the
right `meterd.reason` header and the source topic/partition/offset headers,
with the original key and value (the large one truncated, saying so), while
the valid events around them in the same partition are all counted exactly.

The large value is 4 MB, not 10 MB: the mock cluster keeps only about 5 MB
per partition. Anything over the 1 MiB default of events.max_message_bytes
takes the same path (too_large)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

POISON_PARTITION = 3
HUGE = 4 * 1024 * 1024


def poison_messages(hours):
    ts = hours.ago(3) + 600000
    ok = json.loads(H.event_json("cust-poison", "api_calls", "1", ts, "x"))

    def ev(**changes):
        e = dict(ok)
        e.update(changes)
        return json.dumps({k: v for k, v in e.items() if v is not None}).encode()

    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 3600))
    return [
        ("garbage", b"\x00\x01\x02\x03 \x7f garbage }{ \x10\x11", "bad_json"),
        ("huge", b'{"customer":"cust-huge","pad":"' + b"x" * HUGE + b'"}', "too_large"),
        ("bad-utf8", b'{"customer":"cust-\xff\xfe\xc3","dimension":"api_calls","quantity":1}',
         "bad_utf8"),
        ("bad-json", b'{"customer":"cust-1","dimension":"api_calls","quantity":', "bad_json"),
        ("negative", ev(quantity=-3), "negative_quantity"),
        ("unknown-dim", ev(dimension="bogus_dimension"), "unknown_dimension"),
        ("array", b"[1,2,3]", "not_an_object"),
        ("no-customer", ev(customer=None), "missing_customer"),
        ("future", ev(timestamp=future), "future_timestamp"),
    ]


def header(msg, name):
    for k, v in msg.headers:
        if k == name:
            return v.decode("utf-8", "replace")
    return None


def main(h):
    hours = H.Hours()
    mock = h.mock()
    cfg, ledger = h.write_config("poison", mock, H.lateness_for(hours.ago(2)))
    gen = H.EventGen(seed=21, customers=12, prefix="v")
    producer = H.Producer(mock.bootstrap, max_request_size=8 * 1024 * 1024)

    # Valid events everywhere; the poison partition gets valid events
    # before, between and after the poison.
    producer.send_all(gen.batch([hours.ago(4), hours.ago(3)], 1500))
    poison = poison_messages(hours)
    sent = []
    for name, value, reason in poison:
        for k, v in gen.batch([hours.ago(3)], 20):
            producer.send(k, v, partition=POISON_PARTITION)
        f = producer.send("poison-" + name, value, partition=POISON_PARTITION)
        producer.flush()
        sent.append((name, f.get(30).offset, value, reason))
    for k, v in gen.batch([hours.ago(3)], 50):
        producer.send(k, v, partition=POISON_PARTITION)
    producer.flush()
    producer.close()
    H.log("poison offsets on %s[%d]: %s" %
          (H.TOPIC, POISON_PARTITION, [(n, o) for n, o, _, _ in sent]))

    inst = h.meterd("poison", cfg, ledger).start()
    messages = H.read_topic(mock.bootstrap)
    # decode_valid() cannot judge a future timestamp; leave the poison out.
    valid_msgs = {p: [m for m in ms if not (m.key or b"").startswith(b"poison-")]
                  for p, ms in messages.items()}
    summary = H.settle(mock.bootstrap, [ledger], 90, valid_msgs)
    H.log("settled: %s" % summary)
    last_poison = max(o for _, o, _, _ in sent)
    after = [m for m in valid_msgs[POISON_PARTITION] if m.offset > last_poison]
    H.check(len(after) == 50, "expected 50 valid events after the poison, topic has %d" %
            len(after))

    dlq = H.wait_until(
        lambda: (lambda d: d if sum(len(v) for v in d.values()) >= len(sent) else None)(
            H.read_topic(mock.bootstrap, H.DLQ_TOPIC)), 30,
        "%d dead-lettered events" % len(sent))
    dead = [m for ms in dlq.values() for m in ms]
    H.check(len(dead) == len(sent), "dead-letter topic holds %d events, expected %d: %s" %
            (len(dead), len(sent), [header(m, "meterd.reason") for m in dead]))
    by_offset = {}
    for m in dead:
        H.check(header(m, "meterd.source.topic") == H.TOPIC and
                header(m, "meterd.source.partition") == str(POISON_PARTITION),
                "dead-letter headers name another source: %s" % m.headers[:8])
        by_offset[int(header(m, "meterd.source.offset"))] = m
    for name, offset, value, reason in sent:
        m = by_offset.get(offset)
        H.check(m is not None, "%s (offset %d) is not in the dead-letter topic" % (name, offset))
        H.check(header(m, "meterd.reason") == reason,
                "%s: meterd.reason %r, expected %r (meterd.error: %s)" %
                (name, header(m, "meterd.reason"), reason, header(m, "meterd.error")))
        H.check(header(m, "meterd.error"), "%s: no meterd.error header" % name)
        H.check(m.key == ("poison-" + name).encode(), "%s: key %r not kept" % (name, m.key))
        if len(value) > 64 * 1024:
            H.check(header(m, "meterd.truncated") == str(len(value)),
                    "%s: meterd.truncated %r, expected %d" %
                    (name, header(m, "meterd.truncated"), len(value)))
            H.check(value.startswith(m.value) and 0 < len(m.value) < len(value),
                    "%s: dead-lettered value is not a prefix of the original" % name)
        else:
            H.check(m.value == value, "%s: value changed in the dead-letter topic" % name)

    inst.term()
    stats = H.stopped_line(inst.log_text())
    H.check(stats and stats.get("rejected") == len(sent),
            "stopped line says %s rejected, expected %d" % (stats, len(sent)))
    committed, ends = H.committed_offsets(mock.bootstrap, h.group)
    H.check(committed[POISON_PARTITION][0] == ends[POISON_PARTITION],
            "%s[%d] committed %d, end %d: the partition did not flow past the poison" %
            (H.TOPIC, POISON_PARTITION, committed[POISON_PARTITION][0],
             ends[POISON_PARTITION]))


if __name__ == "__main__":
    H.require_environment()
    H.Harness("poison").run(main)
