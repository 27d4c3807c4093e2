"""Two `meterd run` on one ledger file: the second is refused at start with
a message naming the first one's pid and the fix, and touches nothing; once
the first is killed (SIGKILL, no clean exit) the lock is gone with it and a
new instance starts on the same ledger."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def main(h):
    hours = H.Hours()
    mock = h.mock()
    cfg, ledger = h.write_config("a", mock, H.lateness_for(hours.ago(2)))
    first = h.meterd("a", cfg, ledger).start()
    first.wait_log("assigned ", 40, "an assignment")

    r = subprocess.run([H.BIN, "run", "--config", cfg], capture_output=True, text=True,
                       timeout=60)
    H.check(r.returncode == 1, "the second instance exited %d, expected 1: %s" %
            (r.returncode, r.stderr))
    H.check("in use by meterd pid %d," % first.proc.pid in r.stderr and
            "ledger.path" in r.stderr,
            "the refusal does not name pid %d and the fix: %s" % (first.proc.pid, r.stderr))
    H.check("assigned" not in r.stderr, "the refused instance joined the group: %s" % r.stderr)
    H.check(first.alive(), "the first instance died: %s" % first.tail())
    H.log("refused: %s" % r.stderr.strip().splitlines()[-1])

    first.kill()
    again = h.meterd("b", cfg, ledger).start()
    again.wait_log("assigned ", 40, "the new instance's assignment")
    again.term()


if __name__ == "__main__":
    H.require_environment()
    H.Harness("ledger-lock").run(main)
