#!/usr/bin/env python3
"""Turns `go test -v` output (kafka-go) and sarama_versions.go's lines into one table:
test, result, reason; and a PASS/FAIL verdict (≥ 95 % of the runnable tests pass, every failure
a known gap).

    table.py KNOWN KAFKA_GO_LOG SARAMA_LOG
"""
import re
import sys

known_path, kafka_go_log, sarama_log = sys.argv[1:4]
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
# A parent fails when a child does: only leaves count.
leaves = {name: result for name, result in results.items() if not any(other.startswith(name + "/") for other in results)}
for line in open(sarama_log, errors="replace"):
    match = re.match(r"(sarama \S+) (PASS|FAIL)(.*)", line)
    if match:
        leaves[match.group(1)] = match.group(2)
        if match.group(2) == "FAIL":
            known.setdefault(match.group(1) + "?", match.group(3).strip())

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
        reason = "NOT A KNOWN GAP"
    if result != "PASS" or "-v" in sys.argv:
        print(f"| {name} | {result} | {reason} |")
passed = sum(1 for _, result in rows if result == "PASS")
runnable = sum(1 for _, result in rows if result in ("PASS", "FAIL"))
rate = passed / runnable if runnable else 0
print(f"\n{passed} of {runnable} runnable tests pass ({rate:.1%}); {sum(1 for _, r in rows if r == 'SKIP')} not run (reasons above)")
if runnable == 0 or rate < 0.95 or unknown:
    print("compat: FAIL" + (f" (unknown failures: {', '.join(unknown)})" if unknown else ""))
    sys.exit(1)
print("compat: PASS")
