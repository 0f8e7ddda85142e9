"""scim2-tester (an independent RFC 7643/7644 checker) against the AWS SCIM emulator.

Every failing check must be explained by an entry of aws-scim-deviations.toml (a documented AWS
deviation, with its line of the reference); anything else fails. Exit 0 when so, 1 otherwise.
"""

from __future__ import annotations

import collections
import json
import re
import sys
import tomllib
from pathlib import Path

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from emulator import Emulator

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent.parent / "shared" / "reference" / "aws-idc-scim.md"
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}
AWS_ONLY_KEYS = ("schema", "exceptionRequestId", "timeStamp")


def load_deviations() -> list[dict]:
    deviations = tomllib.loads((HERE / "aws-scim-deviations.toml").read_text())["deviation"]
    # When the reference is beside the repo (as in CI), each quoted line must still be there.
    if REFERENCE.exists():
        lines = REFERENCE.read_text().splitlines()
        for d in deviations:
            n = d["reference"]
            if not (1 <= n <= len(lines)) or lines[n - 1].strip() != d["quote"].strip():
                raise SystemExit(
                    f"aws-scim-deviations.toml: {d['check']}: line {n} of {REFERENCE} is not the quoted "
                    f"text any more:\n  quoted: {d['quote']}\n  line:   {lines[n - 1] if n <= len(lines) else '-'}"
                )
    return deviations


def explained(result, deviations: list[dict]) -> dict | None:
    for d in deviations:
        if d["check"] not in ("*", result.title):
            continue
        if "resource_type" in d and d["resource_type"] != result.resource_type:
            continue
        if re.search(d["reason"], result.reason or ""):
            return d
    return None


def main() -> int:
    deviations = load_deviations()
    error_bodies = {"seen": 0, "aws_shaped": 0}

    def aws_error_body_to_rfc(response: httpx2.Response) -> None:
        """Check AWS's error body, then strip its non-standard keys for scim2-client."""
        if response.status_code < 400:
            return
        response.read()
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        error_bodies["seen"] += 1
        if (
            all(k in body for k in AWS_ONLY_KEYS)
            and isinstance(body.get("status"), str)
            and "scimType" not in body
            and response.headers.get("x-amzn-RequestId")
        ):
            error_bodies["aws_shaped"] += 1
        for key in AWS_ONLY_KEYS:
            body.pop(key, None)
        response._content = json.dumps(body).encode()

    with Emulator() as emu:
        http = httpx2.Client(
            base_url=emu.env["SCIMSYNC_SCIM_URL"] + "/",
            headers={"Authorization": "Bearer " + emu.env["SCIMSYNC_SCIM_TOKEN"]},
            event_hooks={"response": [aws_error_body_to_rfc]},
            timeout=30,
        )
        client = SyncSCIMClient(http)
        client.discover()
        results = check_server(client)

    counts = collections.Counter(r.status.name for r in results)
    unexpected, deviated, listed_but_passed = [], [], set()
    seen_failing = set()
    for r in results:
        if r.status in PASSING:
            continue
        d = explained(r, deviations)
        if d is None:
            unexpected.append(r)
        else:
            deviated.append((r, d))
            seen_failing.add(id(d))
    for d in deviations:
        if id(d) not in seen_failing:
            listed_but_passed.add(f"{d.get('resource_type', '-')}/{d['check']} ({d['reason']})")

    print(f"scim2-tester against the AWS emulator: {len(results)} checks: " + ", ".join(
        f"{n} {k}" for k, n in sorted(counts.items())))
    for r, d in deviated:
        print(f"  deviation  {r.resource_type or '-'}/{r.title}: {r.reason} (reference line {d['reference']})")
    for name in sorted(listed_but_passed):
        print(f"  note: listed deviation {name} did not fail this run")
    print(f"  AWS-shaped error bodies: {error_bodies['aws_shaped']} of {error_bodies['seen']}")
    failed = False
    if error_bodies["seen"] == 0 or error_bodies["aws_shaped"] != error_bodies["seen"]:
        print("  FAIL: an error body lacked AWS's shape (schema, exceptionRequestId, timeStamp, string status, x-amzn-RequestId)")
        failed = True
    for r in unexpected:
        print(f"  FAIL  {r.status.name} {r.resource_type or '-'}/{r.title}: {r.reason}")
        failed = True
    clean = len(results) - len(unexpected) - len(deviated)
    print(f"scim2-tester: {clean} passed, {len(unexpected)} failed, {len(deviated)} documented AWS deviations")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
