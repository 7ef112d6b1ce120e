#!/usr/bin/env python3
"""Turns `go test -v` output (kafka-go) and sarama_versions.go's lines into one table:
test, result, reason; and a PASS/FAIL verdict (≥ 95 % of the runnable tests pass, every failure
a known gap).

    table.py KNOWN KAFKA_GO_LOG SARAMA_LOG [STATUS]

STATUS lists kafka-go runs that exited abnormally; the verdict fails if a run failed without
a test failing (a timeout or a panic), if a log shows a panic or timeout, or if sarama printed
no result.
"""
import os
import re
import sys

known_path, kafka_go_log, sarama_log = sys.argv[1:4]
status_path = sys.argv[4] if len(sys.argv) > 4 else None
broken = []
known = {}
for line in open(known_path):
    if line.strip() and not line.startswith("#"):
        name, reason = line.rstrip("\n").split("\t", 1)
        known[name] = reason

results = {}
for line in open(kafka_go_log, errors="replace"):
    match = re.match(r"\s*--- (PASS|FAIL|SKIP): (\S+)", line)
    if match:
        results["kafka-go " + match.group(2)] = match.group(1)
log_text = open(kafka_go_log, errors="replace").read()
for marker in ("panic:", "test timed out"):
    if marker in log_text:
        broken.append(f"kafka-go log shows '{marker}'")
# A parent fails when a child does: leaves count, and a parent that fails with every child
# passing (a failure of its own) counts too.
def children(name):
    return [other for other in results if other.startswith(name + "/")]
leaves = {name: result for name, result in results.items()
          if not children(name) or (result == "FAIL" and all(results[child] != "FAIL" for child in children(name)))}
if status_path and os.path.exists(status_path):
    statuses = open(status_path).read().strip()
    if statuses and not any(result == "FAIL" for result in leaves.values()):
        broken.append("a kafka-go run failed without a failing test: " + statuses.replace("\n", "; "))
sarama_reasons = {}
for line in open(sarama_log, errors="replace"):
    match = re.match(r"(sarama \S+) (PASS|FAIL)(.*)", line)
    if match:
        leaves[match.group(1)] = match.group(2)
        sarama_reasons[match.group(1)] = match.group(3).strip()
if not any(name.startswith("sarama ") for name in leaves):
    broken.append("sarama printed no result (did its program build?)")

rows = sorted(leaves.items())
for name, reason in known.items():
    if name not in leaves and not name.endswith("?") and reason.startswith("not run"):
        rows.append((name, "SKIP"))
print("| test | result | reason |")
print("| --- | --- | --- |")
unknown = []
for name, result in rows:
    reason = known.get(name, "skipped by the suite itself" if result == "SKIP" else "") if result != "PASS" else ""
    if result == "FAIL" and name not in known:
        unknown.append(name)
        reason = "NOT A KNOWN GAP" + (f": {sarama_reasons[name]}" if sarama_reasons.get(name) else "")
    if result != "PASS" or "-v" in sys.argv:
        print(f"| {name} | {result} | {reason} |")
passed = sum(1 for _, result in rows if result == "PASS")
runnable = sum(1 for _, result in rows if result in ("PASS", "FAIL"))
rate = passed / runnable if runnable else 0
print(f"\n{passed} of {runnable} runnable tests pass ({rate:.1%}); {sum(1 for _, r in rows if r == 'SKIP')} not run (reasons above)")
for problem in broken:
    print("broken run: " + problem)
if runnable == 0 or rate < 0.95 or unknown or broken:
    print("compat: FAIL" + (f" (unknown failures: {', '.join(unknown)})" if unknown else ""))
    sys.exit(1)
print("compat: PASS")
