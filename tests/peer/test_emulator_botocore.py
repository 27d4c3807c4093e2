"""`meterd emulator` against botocore, AWS's own Python client.

botocore signs with its SigV4, serialises BatchMeterUsage from its service
model and parses every answer with the same model, so this proves that the
emulator speaks the wire protocol AWS speaks: successes, DuplicateRecord,
CustomerNotSubscribed, UnprocessedRecords, each request-level exception as
the modelled exception class, authentication errors, botocore's retries on
throttling, a dropped connection, and that /_emulator/records holds exactly
what botocore was told was accepted.
"""
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: botocore is not importable ({e})")
    sys.exit(77)

MTR_BIN = os.environ.get("MTR_BIN")
if not MTR_BIN or not os.access(MTR_BIN, os.X_OK):
    print("skipped: MTR_BIN does not name the meterd binary")
    sys.exit(77)

PRODUCT = "prod-abc123"
REGION = "us-west-2"
AKID, SECRET = "AKIDPEERTEST", "peer/test/secret"
CONFIG = {
    "aws": {"region": REGION},
    "products": [{"product_code": PRODUCT,
                  "dimensions": [{"name": "api_calls"}, {"name": "seats"}]}],
    "emulator": {"credentials": [{"access_key_id": AKID, "secret_access_key": SECRET}],
                 "customers": ["cust-1", "cust-2", "cust-3"]},
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self, tmp, config, extra_args=(), env=None):
        self.port = free_port()
        path = os.path.join(tmp, f"config-{self.port}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen(
            [MTR_BIN, "emulator", "--listen", f"127.0.0.1:{self.port}", "--config", path,
             *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited {self.proc.returncode}: "
                                   f"{self.proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("emulator did not start listening")
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, attempts=1, secret=SECRET, akid=AKID):
        return botocore.session.get_session().create_client(
            "meteringmarketplace", region_name=REGION, endpoint_url=self.url,
            aws_access_key_id=akid, aws_secret_access_key=secret,
            config=botocore.config.Config(
                retries={"total_max_attempts": attempts, "mode": "standard"},
                connect_timeout=5, read_timeout=10))

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def post(self, path, body=b""):
        req = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        check(rc == 0, f"emulator exits 0 on SIGTERM (got {rc})")
        err = self.proc.stderr.read().decode()
        check("listening on http://127.0.0.1:" in err, "emulator logs its listening address")
        check(SECRET not in err, "emulator never logs the secret key")


def hour_ago(minutes):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return t.replace(microsecond=0)


def rec(customer, dimension, quantity, ts, **extra):
    r = {"CustomerIdentifier": customer, "Dimension": dimension, "Quantity": quantity,
         "Timestamp": ts}
    r.update(extra)
    return r


def expect_error(fn, exc_class, code, status):
    try:
        fn()
    except exc_class as e:
        got = e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == (code, status), f"{code}: expected {(code, status)}, got {got}")
        return
    except botocore.exceptions.ClientError as e:
        check(False, f"{code}: raised ClientError {e.response['Error']['Code']} "
                     f"not the modelled class")
        return
    check(False, f"{code}: no error raised")


def test_records_and_statuses(emu, client):
    ts = hour_ago(30)
    r = client.batch_meter_usage(ProductCode=PRODUCT, UsageRecords=[
        rec("cust-1", "api_calls", 5, ts), rec("cust-2", "seats", 2, ts),
        rec("cust-9", "api_calls", 1, ts)])
    statuses = [x["Status"] for x in r["Results"]]
    check(statuses == ["Success", "Success", "CustomerNotSubscribed"],
          f"statuses of a mixed batch: {statuses}")
    check(r["Results"][0]["UsageRecord"]["Timestamp"] == ts,
          "echoed Timestamp parses back to the datetime sent")
    check(r["Results"][0]["UsageRecord"]["Quantity"] == 5, "echoed Quantity")
    check(r["UnprocessedRecords"] == [], "no UnprocessedRecords without faults")
    accepted = {(x["UsageRecord"]["CustomerIdentifier"], x["UsageRecord"]["Dimension"]):
                x["MeteringRecordId"] for x in r["Results"] if x["Status"] == "Success"}

    again = client.batch_meter_usage(ProductCode=PRODUCT,
                                     UsageRecords=[rec("cust-1", "api_calls", 5, ts)])
    check(again["Results"][0]["Status"] == "Success" and
          again["Results"][0]["MeteringRecordId"] == accepted[("cust-1", "api_calls")],
          "an identical repeat is Success with the same MeteringRecordId")

    dup = client.batch_meter_usage(ProductCode=PRODUCT,
                                   UsageRecords=[rec("cust-1", "api_calls", 6, ts)])
    check(dup["Results"][0]["Status"] == "DuplicateRecord",
          f"changed quantity is DuplicateRecord: {dup['Results'][0]['Status']}")
    check("MeteringRecordId" not in dup["Results"][0], "DuplicateRecord has no record id")

    allocated = client.batch_meter_usage(ProductCode=PRODUCT, UsageRecords=[rec(
        "cust-3", "api_calls", 7, ts, UsageAllocations=[
            {"AllocatedUsageQuantity": 3, "Tags": [{"Key": "team", "Value": "search"}]},
            {"AllocatedUsageQuantity": 4}])])
    check(allocated["Results"][0]["Status"] == "Success", "allocated record accepted")
    accepted[("cust-3", "api_calls")] = allocated["Results"][0]["MeteringRecordId"]
    check(allocated["Results"][0]["UsageRecord"]["UsageAllocations"][0]["Tags"] ==
          [{"Key": "team", "Value": "search"}], "echoed allocations parse")
    return accepted


def test_request_level_errors(emu, client):
    ts = hour_ago(10)
    x = client.exceptions
    bmu = client.batch_meter_usage
    expect_error(lambda: bmu(ProductCode="prod-unknown", UsageRecords=[rec("cust-1", "seats", 1, ts)]),
                 x.InvalidProductCodeException, "InvalidProductCodeException", 400)
    expect_error(lambda: bmu(ProductCode=PRODUCT, UsageRecords=[rec("cust-1", "gpu", 1, ts)]),
                 x.InvalidUsageDimensionException, "InvalidUsageDimensionException", 400)
    expect_error(lambda: bmu(ProductCode=PRODUCT, UsageRecords=[rec("c" * 256, "seats", 1, ts)]),
                 x.InvalidCustomerIdentifierException, "InvalidCustomerIdentifierException", 400)
    six = [{"Key": f"k{i}", "Value": "v"} for i in range(6)]
    expect_error(lambda: bmu(ProductCode=PRODUCT, UsageRecords=[rec(
        "cust-1", "seats", 1, ts, UsageAllocations=[{"AllocatedUsageQuantity": 1, "Tags": six}])]),
                 x.InvalidTagException, "InvalidTagException", 400)
    expect_error(lambda: bmu(ProductCode=PRODUCT, UsageRecords=[rec(
        "cust-1", "seats", 5, ts, UsageAllocations=[{"AllocatedUsageQuantity": 4}])]),
                 x.InvalidUsageAllocationsException, "InvalidUsageAllocationsException", 400)
    expect_error(lambda: bmu(ProductCode=PRODUCT,
                             UsageRecords=[rec("cust-1", "seats", 1, hour_ago(7 * 60))]),
                 x.TimestampOutOfBoundsException, "TimestampOutOfBoundsException", 400)
    # Not a modelled exception: botocore raises ClientError with AWS's code.
    many = [rec("cust-1", "seats", 1, hour_ago(i)) for i in range(26)]
    expect_error(lambda: bmu(ProductCode=PRODUCT, UsageRecords=many),
                 botocore.exceptions.ClientError, "ValidationException", 400)
    bad = emu.client(secret="not-the-secret")
    expect_error(lambda: bad.batch_meter_usage(ProductCode=PRODUCT,
                                               UsageRecords=[rec("cust-1", "seats", 1, ts)]),
                 botocore.exceptions.ClientError, "InvalidSignatureException", 403)
    stranger = emu.client(akid="AKIDSTRANGER")
    expect_error(lambda: stranger.batch_meter_usage(ProductCode=PRODUCT,
                                                    UsageRecords=[rec("cust-1", "seats", 1, ts)]),
                 botocore.exceptions.ClientError, "UnrecognizedClientException", 403)


def test_faults(emu, client):
    ts = hour_ago(20)
    x = client.exceptions
    emu.post("/_emulator/faults", json.dumps({"error_ratio": 1.0}).encode())
    expect_error(lambda: client.batch_meter_usage(ProductCode=PRODUCT,
                                                  UsageRecords=[rec("cust-2", "api_calls", 1, ts)]),
                 x.InternalServiceErrorException, "InternalServiceErrorException", 500)

    emu.post("/_emulator/faults", json.dumps({"unprocessed_ratio": 1.0}).encode())
    r = client.batch_meter_usage(ProductCode=PRODUCT,
                                 UsageRecords=[rec("cust-2", "api_calls", 1, ts)])
    check(r["Results"] == [] and len(r["UnprocessedRecords"]) == 1 and
          r["UnprocessedRecords"][0]["CustomerIdentifier"] == "cust-2",
          f"unprocessed record parsed: {r}")

    emu.post("/_emulator/faults", json.dumps({"drop_after_apply_ratio": 1.0}).encode())
    dropped = None
    try:
        client.batch_meter_usage(ProductCode=PRODUCT,
                                 UsageRecords=[rec("cust-2", "api_calls", 9, ts)])
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as e:
        dropped = e
    check(dropped is not None, "a dropped connection surfaces as a botocore connection error")
    emu.post("/_emulator/faults", b"{}")
    r = client.batch_meter_usage(ProductCode=PRODUCT,
                                 UsageRecords=[rec("cust-2", "api_calls", 9, ts)])
    check(r["Results"][0]["Status"] == "Success",
          "the retry of a dropped (but applied) request is Success")
    return r["Results"][0].get("MeteringRecordId")


def test_throttling_and_env_credentials(tmp):
    """A second process: fault flags on the command line and credentials
    from the environment (the config lists none)."""
    config = dict(CONFIG, emulator={"customers": []})
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDFROMENV", AWS_SECRET_ACCESS_KEY="env/secret")
    emu = Emulator(tmp, config, ["--throttle-ratio", "1", "--seed", "3"], env=env)
    try:
        ts = hour_ago(5)
        once = emu.client(attempts=1, akid="AKIDFROMENV", secret="env/secret")
        expect_error(lambda: once.batch_meter_usage(ProductCode=PRODUCT,
                                                    UsageRecords=[rec("anyone", "seats", 1, ts)]),
                     once.exceptions.ThrottlingException, "ThrottlingException", 400)
        check(emu.get("/_emulator/stats")["requests"]["throttled"] == 1,
              "one attempt: one throttled request")
        thrice = emu.client(attempts=3, akid="AKIDFROMENV", secret="env/secret")
        expect_error(lambda: thrice.batch_meter_usage(ProductCode=PRODUCT,
                                                      UsageRecords=[rec("anyone", "seats", 1, ts)]),
                     thrice.exceptions.ThrottlingException, "ThrottlingException", 400)
        check(emu.get("/_emulator/stats")["requests"]["throttled"] == 4,
              "botocore retries ThrottlingException: 3 more throttled requests")
        check(emu.get("/_emulator/records")["count"] == 0, "throttled requests apply nothing")
    finally:
        emu.stop()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        emu = Emulator(tmp, CONFIG)
        try:
            client = emu.client()
            accepted = test_records_and_statuses(emu, client)
            test_request_level_errors(emu, client)
            accepted[("cust-2", "api_calls")] = test_faults(emu, client)

            listing = emu.get("/_emulator/records")
            got = {(r["customer_identifier"], r["dimension"]): r["metering_record_id"]
                   for r in listing["records"]}
            check(got == accepted, f"/_emulator/records matches botocore's answers:\n"
                                   f"  records {got}\n  answers {accepted}")
            check(listing["duplicate_records"] == 1, "one DuplicateRecord counted")
            quantities = {(r["customer_identifier"], r["dimension"]): r["quantity"]
                          for r in listing["records"]}
            check(quantities[("cust-1", "api_calls")] == 5, "the duplicate did not change usage")
            stats = emu.get("/_emulator/stats")
            check(stats["requests"]["dropped"] == 1 and stats["records"]["not_subscribed"] == 1,
                  f"stats by outcome: {stats}")
            emu.post("/_emulator/reset")
            check(emu.get("/_emulator/records")["count"] == 0, "reset clears the records")
        finally:
            emu.stop()
        test_throttling_and_env_credentials(tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
