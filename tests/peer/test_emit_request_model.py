"""BatchMeterUsage request bodies built by meterd validate against botocore's
own service model (meteringmarketplace, operation BatchMeterUsage).

Where the bodies come from: the sender's unit test program
(tests/unit/test_emit_sender.c) drives the real path — ledger records,
mtr_ledger_record_to_emit, the emitter's batcher and codec — against the
emulator, including faults, retries, bisection, account-id customers,
LicenseArn scopes and tagged usage allocations. Run with
MTR_EMIT_CAPTURE_DIR set, it writes every request body it hands to the
HTTP transport into that directory, byte for byte. This test runs that
program and checks each body:

  1. it is one JSON object without repeated keys;
  2. botocore.validate.ParamValidator accepts it against the operation's
     input shape (required members, unknown members, types, minimums);
  3. every modelled maximum (string length, list size, integer range) and
     every modelled pattern holds — ParamValidator checks neither;
  4. botocore's own JSON serializer, given the same parameters, produces
     the same document (so nothing is encoded differently, e.g. Timestamp);
  5. the rules AWS documents but the model cannot express: at most 25
     records, under 1 MB, ProductCode or a LicenseArn on every record but
     never both, one customer kind per request, allocations summing to
     Quantity.

If the local model lacks a member meterd sends (Debian's botocore 1.29 has
no CustomerAWSAccountId or LicenseArn, and requires CustomerIdentifier and
ProductCode instead), that member cannot be checked against the model: it
is removed, a placeholder stands in for the member the old model requires
in its place, the rest is validated strictly, and the output says what was
not checkable. The documented rules (5) still cover those bodies.
"""
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import botocore.serialize
    import botocore.session
    import botocore.validate
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: botocore is not importable ({e})")
    sys.exit(77)

BUILD_DIR = os.environ.get("MTR_BUILD_DIR")
if not BUILD_DIR:
    print("skipped: MTR_BUILD_DIR is not set (run under ctest)")
    sys.exit(77)
PROGRAM = os.path.join(BUILD_DIR, "tests", "test_emit_sender")
if not os.access(PROGRAM, os.X_OK):
    print(f"skipped: {PROGRAM} is not built (cmake --build {BUILD_DIR} --target test_emit_sender)")
    sys.exit(77)

MAX_BODY = 1_000_000
failures = []
unchecked = collections.Counter()


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")


def no_repeated_keys(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"repeated keys {sorted(dup)}")
    return dict(pairs)


def constraint_errors(value, shape, path):
    """Maximums and patterns, which ParamValidator leaves out."""
    errs = []
    meta = shape.metadata
    t = shape.type_name
    if t == "structure":
        for name, member in shape.members.items():
            if name in value:
                errs += constraint_errors(value[name], member, f"{path}.{name}")
    elif t == "list":
        if "max" in meta and len(value) > meta["max"]:
            errs.append(f"{path}: {len(value)} items, model max {meta['max']}")
        for i, item in enumerate(value):
            errs += constraint_errors(item, shape.member, f"{path}[{i}]")
    elif t == "string":
        if "max" in meta and len(value) > meta["max"]:
            errs.append(f"{path}: length {len(value)}, model max {meta['max']}")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern.lstrip("^").rstrip("$"), value):
            errs.append(f"{path}: {value!r} does not match {pattern}")
    elif t in ("integer", "long"):
        if "max" in meta and value > meta["max"]:
            errs.append(f"{path}: {value}, model max {meta['max']}")
    return errs


# What a newer member stands in for: an old model that lacks the newer one
# requires the older one instead.
STANDS_IN_FOR = {"CustomerAWSAccountId": ("record", "CustomerIdentifier", "cust-placeholder"),
                 "LicenseArn": ("request", "ProductCode", "placeholder")}


def strip_unmodelled(params, record_shape):
    """Removes record members the local model does not know (counting them),
    filling in a placeholder for the member the old model requires in their
    place, so that the rest is validated strictly. Says whether it did."""
    stripped = False
    for rec in params.get("UsageRecords", []):
        for name in list(rec):
            if name in record_shape.members:
                continue
            unchecked[name] += 1
            del rec[name]
            stripped = True
            where, older, placeholder = STANDS_IN_FOR.get(name, (None, None, None))
            if where == "record":
                rec.setdefault(older, placeholder)
            elif where == "request":
                params.setdefault(older, placeholder)
    return stripped


def with_datetimes(params):
    out = json.loads(json.dumps(params))
    for rec in out.get("UsageRecords", []):
        if isinstance(rec.get("Timestamp"), (int, float)):
            rec["Timestamp"] = datetime.datetime.fromtimestamp(rec["Timestamp"],
                                                               datetime.timezone.utc)
    return out


def documented_rules(doc, name):
    records = doc.get("UsageRecords", [])
    check(1 <= len(records) <= 25, f"{name}: {len(records)} records (1 to 25)")
    has_code = "ProductCode" in doc
    arns = [r.get("LicenseArn") for r in records]
    if has_code:
        check(not any(arns), f"{name}: ProductCode and LicenseArn in one request")
    else:
        check(all(arns), f"{name}: no ProductCode and a record without LicenseArn")
    kinds = {("CustomerIdentifier" in r, "CustomerAWSAccountId" in r) for r in records}
    check(kinds in ({(True, False)}, {(False, True)}),
          f"{name}: customer kinds {kinds} (exactly one per record, one kind per request)")
    for i, r in enumerate(records):
        allocs = r.get("UsageAllocations")
        if allocs is not None:
            total = sum(a["AllocatedUsageQuantity"] for a in allocs)
            check(total == r.get("Quantity", 0),
                  f"{name}: UsageRecords[{i}] allocations sum to {total}, Quantity {r.get('Quantity')}")


def main():
    session = botocore.session.get_session()
    model = session.get_service_model("meteringmarketplace")
    op = model.operation_model("BatchMeterUsage")
    record_shape = op.input_shape.members["UsageRecords"].member
    validator = botocore.validate.ParamValidator()
    serializer = botocore.serialize.create_serializer(model.metadata["protocol"])
    print(f"botocore {botocore.__version__}, {model.metadata['protocol']} protocol, "
          f"UsageRecord members: {sorted(record_shape.members)}")

    with tempfile.TemporaryDirectory(prefix="mtr-bodies-") as capture:
        env = dict(os.environ, MTR_EMIT_CAPTURE_DIR=capture)
        run = subprocess.run([PROGRAM], env=env, capture_output=True, text=True, timeout=400)
        if run.returncode != 0:
            print(run.stdout[-4000:])
            # cmocka's assertion messages, ahead of any sanitizer report
            print("\n".join(l for l in run.stderr.splitlines()
                            if "ERROR  ]" in l or "LINE   ]" in l or "emulator did not" in l))
            print(f"FAIL: {PROGRAM} exited {run.returncode}")
            return 1
        names = sorted(os.listdir(capture))
        bodies = []
        for n in names:
            with open(os.path.join(capture, n), "rb") as f:
                bodies.append((n, f.read()))

    check(len(bodies) >= 20, f"only {len(bodies)} request bodies were captured")
    seen = collections.Counter()
    for name, raw in bodies:
        check(len(raw) < MAX_BODY, f"{name}: {len(raw)} bytes (AWS: less than 1 MB)")
        try:
            doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_repeated_keys)
        except ValueError as e:
            check(False, f"{name}: not a JSON document without repeated keys: {e}")
            continue
        check(isinstance(doc, dict), f"{name}: not a JSON object")
        if not isinstance(doc, dict):
            continue
        documented_rules(doc, name)
        for r in doc.get("UsageRecords", []):
            seen["ProductCode" if "ProductCode" in doc else "LicenseArn"] += 1
            seen["CustomerIdentifier" if "CustomerIdentifier" in r else "CustomerAWSAccountId"] += 1
            if any("Tags" in a for a in r.get("UsageAllocations", [])):
                seen["Tags"] += 1

        params = json.loads(raw)
        stripped = strip_unmodelled(params, record_shape)
        report = validator.validate(with_datetimes(params), op.input_shape)
        check(not report.has_errors(), f"{name}: botocore rejects it:\n{report.generate_report()}")
        for err in constraint_errors(params, op.input_shape, "BatchMeterUsage"):
            check(False, f"{name}: {err}")
        if stripped:
            continue  # botocore would not serialise the members it lacks
        req = serializer.serialize_to_request(with_datetimes(params), op)
        check(json.loads(req["body"]) == params,
              f"{name}: botocore serialises the same parameters differently:\n"
              f"  ours:     {json.dumps(params, sort_keys=True)[:400]}\n"
              f"  botocore: {json.dumps(json.loads(req['body']), sort_keys=True)[:400]}")

    for what in ("ProductCode", "LicenseArn", "CustomerIdentifier", "CustomerAWSAccountId", "Tags"):
        check(seen[what] > 0, f"no captured request used {what}: that form went unchecked")
    print(f"{len(bodies)} request bodies checked; records by form: {dict(seen)}")
    for member, n in unchecked.items():
        print(f"not checkable: {member} ({n} records): this botocore model has no such "
              f"UsageRecord member; the rest of those records was validated, with a "
              f"placeholder for the member the old model requires in its place")
    if failures:
        print(f"{len(failures)} problems")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
