"""meterd's SigV4 signatures equal botocore's for random BatchMeterUsage requests.

Differential test against botocore (an independent SigV4 implementation that
AWS accepts): signs N random requests (default 600) with botocore's
SigV4Auth at a fixed time, and the same requests with `meterd sigv4 --batch`,
and compares the canonical request, the string to sign and the
Authorization header of every request. Requests vary region, time, session
token, header name case and spacing, and JSON bodies with random customers,
dimensions, tags, quantities and Unicode; a tenth use odd paths and query
strings to exercise normalisation and encoding.

Env: MTR_BIN (meterd), MTR_SIGV4_CASES (count), MTR_SIGV4_SEED (seed).
Exit 77 when botocore is not importable or MTR_BIN is missing.
"""
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from unittest import mock

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"skipped: botocore is not importable ({exc}); install python3-botocore")
    sys.exit(77)

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1",
           "ap-southeast-2", "ap-northeast-1", "sa-east-1", "ca-central-1",
           "us-gov-west-1", "me-south-1", "af-south-1"]
DIMENSIONS = ["api_calls", "seats", "GB-stored", "requests.v2", "compute_hours",
              "Dim_With_Underscore", "x"]
UNICODE_POOL = ("abcXYZ019-_. /+=&?%#'\"\\\t"
                "éüßçñ" "日本語中文" "Ελληνικά" "кириллица" "\u0301\u200b" "😀🚀𝄞")


def rand_text(rng, lo, hi, pool=UNICODE_POOL):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))


def rand_body(rng):
    records = []
    for _ in range(rng.randint(1, 25)):
        rec = {
            "CustomerIdentifier": rand_text(rng, 1, 40),
            "Dimension": rng.choice(DIMENSIONS),
            "Quantity": rng.choice([0, 1, rng.randint(0, 2**31 - 1)]),
            "Timestamp": rng.randint(1_400_000_000, 2_100_000_000),
        }
        if rng.random() < 0.4:
            rec["UsageAllocations"] = [{
                "AllocatedUsageQuantity": rng.randint(0, 1000),
                "Tags": [{"Key": rand_text(rng, 1, 20), "Value": rand_text(rng, 0, 30)}
                         for _ in range(rng.randint(1, 3))],
            }]
        records.append(rec)
    body = {"ProductCode": rand_text(rng, 5, 25, "abcdefghijklmnopqrstuvwxyz0123456789"),
            "UsageRecords": records}
    text = json.dumps(body, ensure_ascii=rng.random() < 0.3,
                      separators=rng.choice([(",", ":"), (", ", ": ")]))
    return text.encode("utf-8")


def rand_case_name(rng, name):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def rand_path_and_query(rng):
    """Mostly "/" as BatchMeterUsage uses; sometimes odd paths and an encoded query."""
    if rng.random() >= 0.1:
        return "/", ""
    segs = [rng.choice(["a", "b", ".", "..", "", "x%20y", "~u-_.", "%E6%97%A5"])
            for _ in range(rng.randint(1, 6))]
    path = "/" + "/".join(segs) + rng.choice(["", "/"])
    params = []
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(["b", "a", "A", "a%20b", "Z9", "k~"])
        val = rng.choice(["", "1", "v%2Fw", "%C3%A9", "x-y_z.~"])
        params.append(f"{key}={val}")
    return path, "&".join(params)


def rand_token(rng):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(16, 400))) + "=="


def make_case(rng):
    region = rng.choice(REGIONS)
    host = f"metering.marketplace.{region}.amazonaws.com"
    when = datetime.datetime(2015, 1, 1) + datetime.timedelta(
        seconds=rng.randint(0, 20 * 365 * 86400))
    path, query = rand_path_and_query(rng)
    headers = [
        (rand_case_name(rng, "Content-Type"), "application/x-amz-json-1.1"),
        (rand_case_name(rng, "X-Amz-Target"), "AWSMPMeteringService.BatchMeterUsage"),
    ]
    if rng.random() < 0.2:
        # Header value white space that SigV4 trims and collapses.
        headers.append(("X-Meterd-Note", rng.choice(["a  b", "a \t b   c", "x"])))
    explicit_host = rng.random() < 0.5
    if explicit_host:
        headers.insert(rng.randint(0, len(headers)), (rand_case_name(rng, "Host"), host))
    return {
        "region": region,
        "host": host,
        "when": when,
        "path": path,
        "query": query,
        "headers": headers,
        "body": rand_body(rng),
        "akid": "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                                 for _ in range(16)),
        "secret": "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789/+") for _ in range(40)),
        "token": rand_token(rng) if rng.random() < 0.5 else None,
    }


def botocore_sign(case):
    url = f"https://{case['host']}{case['path']}"
    if case["query"]:
        url += "?" + case["query"]
    req = AWSRequest(method="POST", url=url, data=case["body"], headers=dict(case["headers"]))
    creds = Credentials(case["akid"], case["secret"], case["token"])
    auth = SigV4Auth(creds, "aws-marketplace", case["region"])
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = case["when"]
        auth.add_auth(req)
    authorization = req.headers["Authorization"]
    del req.headers["Authorization"]
    canonical = auth.canonical_request(req)
    return canonical, auth.string_to_sign(req, canonical), authorization


def write_case(root, name, case):
    d = os.path.join(root, name)
    os.mkdir(d)
    context = {
        "credentials": {"access_key_id": case["akid"], "secret_access_key": case["secret"]},
        "region": case["region"],
        "service": "aws-marketplace",
        "timestamp": case["when"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "normalize": True,
        "sign_body": False,
    }
    if case["token"]:
        context["credentials"]["token"] = case["token"]
    with open(os.path.join(d, "context.json"), "w") as f:
        json.dump(context, f)
    target = case["path"] + ("?" + case["query"] if case["query"] else "")
    lines = [f"POST {target} HTTP/1.1"]
    names = {n.lower() for n, _ in case["headers"]}
    if "host" not in names:
        lines.append(f"Host:{case['host']}")
    lines += [f"{n}:{v}" for n, v in case["headers"]]
    with open(os.path.join(d, "request.txt"), "wb") as f:
        f.write(("\n".join(lines) + "\n\n").encode("utf-8") + case["body"])
    return d


def main():
    binary = os.environ.get("MTR_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print(f"skipped: MTR_BIN ({binary!r}) is not an executable meterd")
        return 77
    count = int(os.environ.get("MTR_SIGV4_CASES", "600"))
    seed = int(os.environ.get("MTR_SIGV4_SEED", "20150830"))
    rng = random.Random(seed)
    print(f"{count} random BatchMeterUsage requests, seed {seed}")

    with tempfile.TemporaryDirectory(prefix="meterd-sigv4-") as root:
        cases, expected = [], []
        for i in range(count):
            case = make_case(rng)
            cases.append(case)
            expected.append(botocore_sign(case))
            write_case(root, f"case{i:05d}", case)

        start = time.monotonic()
        out = subprocess.run([binary, "sigv4", "--batch", root], capture_output=True,
                             check=False)
        elapsed = time.monotonic() - start
        if out.returncode != 0:
            print(f"FAIL: meterd sigv4 --batch exited {out.returncode}: "
                  f"{out.stderr.decode(errors='replace')}")
            return 1
        lines = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
        print(f"meterd signed {len(lines)} requests in {elapsed:.2f} s")
        if len(lines) != count:
            print(f"FAIL: expected {count} results, got {len(lines)}")
            return 1

        mismatches = 0
        for i, (got, (canonical, sts, authorization)) in enumerate(zip(lines, expected)):
            assert got["case"] == f"case{i:05d}", got["case"]
            problems = []
            if "error" in got:
                problems.append(f"meterd error: {got['error']}")
            else:
                for stage, mine, theirs in (("canonical request", got["canonical_request"],
                                             canonical),
                                            ("string to sign", got["string_to_sign"], sts),
                                            ("authorization", got["authorization"],
                                             authorization)):
                    if mine != theirs:
                        problems.append(f"{stage} differs\n--- botocore\n{theirs}\n"
                                        f"--- meterd\n{mine}")
            if problems:
                mismatches += 1
                if mismatches <= 3:
                    print(f"FAIL case{i:05d} ({cases[i]['path']}?{cases[i]['query']}):")
                    for p in problems:
                        print(p)

        # The one-shot form prints the same Authorization as the batch form.
        for i in range(0, count, max(1, count // 5)):
            d = os.path.join(root, f"case{i:05d}")
            one = subprocess.run([binary, "sigv4", "--context", f"{d}/context.json",
                                  "--request", f"{d}/request.txt", "--print", "authorization"],
                                 capture_output=True, check=False)
            if one.returncode != 0 or one.stdout.decode() != expected[i][2]:
                mismatches += 1
                print(f"FAIL case{i:05d}: `meterd sigv4 --print authorization` printed "
                      f"{one.stdout!r} (exit {one.returncode}), botocore {expected[i][2]!r}")
            secret = cases[i]["secret"].encode()
            if secret in one.stdout or secret in one.stderr:
                mismatches += 1
                print(f"FAIL case{i:05d}: the secret key appeared in meterd's output")

    with_token = sum(1 for c in cases if c["token"])
    odd_paths = sum(1 for c in cases if c["path"] != "/")
    print(f"{count - mismatches} of {count} agree ({with_token} with session tokens, "
          f"{odd_paths} with odd paths/queries)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
