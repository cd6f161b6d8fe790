"""SIPp's built-in `uac` places calls against test_uas (a UAS built on our transport,
transaction and dialog layers), over UDP and over TCP: every call must complete."""
import argparse
import os
import re
import subprocess

import harness

CALLS = 200


def run(uas_binary, transport):
    with harness.session() as procs:
        port = harness.free_port()
        uas = procs.start([uas_binary, f"{transport}:127.0.0.1:{port}"], "test_uas")
        harness.check(harness.wait_for_log(procs, uas, f"listening {port}"),
                      "test_uas did not start")
        sipp_port = harness.free_port()
        extra = ["-m", str(CALLS), "-r", "100", "-timeout", "60s", "-timeout_error"]
        if transport == "tcp":
            extra += ["-t", "t1"]
        sipp = procs.start(harness.sipp_args("uac", port, sipp_port, extra), "sipp_uac")
        code = sipp.wait(timeout=90)
        out = procs.log_of(sipp)
        ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", out)
        failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", out)
        harness.check(code == 0, f"sipp exited {code} over {transport}")
        harness.check(ok and int(ok[-1]) == CALLS, f"successful calls {ok} over {transport}")
        harness.check(failed and int(failed[-1]) == 0, f"failed calls {failed}")
        procs.stop(uas)
        report = procs.log_of(uas)
        harness.check(f"calls {CALLS} acks {CALLS} byes {CALLS} open 0" in report,
                      f"test_uas saw: {report.strip().splitlines()[-1:]}")
        print(f"{transport}: {CALLS} calls completed")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--uas", required=True)
    args = parser.parse_args()
    uas = os.path.abspath(args.uas)
    run(uas, "udp")
    run(uas, "tcp")
    print("2 passed, 0 failed")


if __name__ == "__main__":
    main()
