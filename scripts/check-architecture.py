#!/usr/bin/env python3
"""Keeps the module graph honest (docs/ARCHITECTURE.md, "Modules and dependency direction").

From `swift package describe` and the sources it checks that
  1. every `import` in a target names a module the target declares (a target dependency, a
     module of a product dependency, or the system's) — nothing resolved only through another
     dependency;
  2. every dependency between Stele's modules points down the layers below (a lower layer never
     imports a higher one or one beside it), and the few hard rules hold (the codecs do no I/O,
     the log imports nothing above SteleCore);
  3. the table in docs/ARCHITECTURE.md lists every module with exactly the Stele modules it
     depends on.
Exits 1 naming each violation."""
import json, pathlib, re, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
described = json.loads(subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=root,
                                      capture_output=True, text=True, check=True).stdout)

# Layers, lowest first: a library may depend only on modules of a lower layer.
LAYERS = [
    ["CSteleCRC32C", "CSteleCompression", "SteleTestSupport", "SteleAsync", "SteleProcessing"],
    ["SteleCore"],
    ["SteleLog", "SteleCompression", "SteleKafkaProtocol", "SteleStore", "SteleSecurity"],
    ["SteleLogTesting", "SteleBroker", "SteleWire", "StelePostgres"],
    ["SteleServer", "SteleEmbedded", "SteleViews", "SteleProcessors", "SteleRemote", "SteleCDC"],
    ["StelePostgresViews", "SteleHTTP", "Stele"],
    ["SteleExamples", "SteleNode"],
    ["SteleCLI", "stele-crashtest"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Imports a module must never have, whatever the layers say.
FORBIDDEN = {
    "SteleCore": {"NIOCore", "NIOPosix", "Foundation"},
    "SteleKafkaProtocol": {"NIOPosix", "SteleLog", "SteleBroker"},
    "SteleLog": {"NIOCore", "NIOPosix", "SteleCompression", "SteleKafkaProtocol"},
    # The event-store API knows no backend: neither the log nor the broker nor a database.
    "SteleStore": {"SteleLog", "SteleBroker", "SteleEmbedded", "PostgresNIO", "GRDB", "GRDBSQLite", "NIOCore", "NIOPosix"},
    "SteleViews": {"SteleBroker"},
    # Processors follow and append through the event-store API only, whichever backend it has.
    "SteleProcessors": {"SteleBroker", "SteleEmbedded", "StelePostgres", "GRDB", "GRDBSQLite", "NIOCore", "NIOPosix"},
    # Security is values and exchanges: no sockets, no files.
    "SteleSecurity": {"NIOCore", "NIOPosix", "NIOSSL", "SteleLog", "SteleBroker"},
    # The broker knows topics, partitions and groups, not the wire format.
    "SteleBroker": {"NIOCore", "NIOPosix", "SteleKafkaProtocol"},
    "StelePostgres": {"SteleViews", "SteleBroker", "SteleLog", "GRDB", "GRDBSQLite"},
    "SteleRemote": {"SteleLog", "SteleBroker", "NIOPosix"},
    # A capture is a client of PostgreSQL and of an event store, whichever backend that is.
    "SteleCDC": {"SteleLog", "SteleBroker", "SteleEmbedded", "SteleServer", "SteleHTTP"},
    # The JSON shapes are values: no server, no client, no storage.
    "SteleWire": {"SteleLog", "SteleBroker", "NIOCore", "NIOPosix", "Hummingbird", "FoundationNetworking"},
}
# What an application that imports the library gets linked, whatever it imports directly: the
# backends that need other packages are opt-in modules.
NOT_LINKED = {"Stele": {"PostgresNIO", "GRDB", "Hummingbird", "NIOPosix"}}
PRODUCT_MODULES = {
    "ArgumentParser": {"ArgumentParser"}, "Logging": {"Logging"}, "Metrics": {"Metrics", "CoreMetrics"},
    "Prometheus": {"Prometheus"}, "Hummingbird": {"Hummingbird", "HummingbirdCore", "HTTPTypes"},
    "PostgresNIO": {"PostgresNIO"}, "NIOSSL": {"NIOSSL"}, "NIOPosix": {"NIOPosix"}, "NIOCore": {"NIOCore"},
    "GRDB": {"GRDB"}, "GRDBSQLite": {"GRDBSQLite"}, "ServiceLifecycle": {"ServiceLifecycle"}, "UnixSignals": {"UnixSignals"},
    "Crypto": {"Crypto"}, "CryptoExtras": {"CryptoExtras"},
}
SYSTEM = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Dispatch", "Glibc", "Musl", "Darwin",
          "Synchronization", "PackagePlugin", "Testing", "XCTest", "_Concurrency", "os", "Android"}
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)

targets = {t["name"]: t for t in described["targets"]}
internal = set(targets)
problems = []
for name, target in sorted(targets.items()):
    declared = set(target.get("target_dependencies", []))
    for product in target.get("product_dependencies", []):
        declared |= PRODUCT_MODULES.get(product, {product})
    allowed = declared | SYSTEM | {name}
    for source in sorted((root / target["path"]).rglob("*.swift")):
        for module in IMPORT.findall(source.read_text()):
            if module not in allowed:
                problems.append(f"{source.relative_to(root)}: imports {module}, which {name} does not declare in Package.swift")
            if module in FORBIDDEN.get(name, set()):
                problems.append(f"{source.relative_to(root)}: {name} must not import {module}")
    if target.get("type") == "test":
        continue
    if name not in RANK:
        problems.append(f"{name} has no layer in scripts/check-architecture.py (LAYERS)")
        continue
    for dependency in target.get("target_dependencies", []):
        if dependency in RANK and RANK[dependency] >= RANK[name]:
            problems.append(f"{name} (layer {RANK[name]}) depends on {dependency} (layer {RANK[dependency]}): dependencies point down only")
        if dependency in FORBIDDEN.get(name, set()):
            problems.append(f"{name} must not depend on {dependency}")

def linked(name, seen=None):
    """Every product a target links, through all its target dependencies."""
    seen = set() if seen is None else seen
    if name in seen or name not in targets:
        return set()
    seen.add(name)
    target = targets[name]
    products = set(target.get("product_dependencies", []))
    for dependency in target.get("target_dependencies", []):
        products |= linked(dependency, seen)
    return products

for name, products in NOT_LINKED.items():
    for product in sorted(linked(name) & products):
        problems.append(f"{name} links {product} through its dependencies: an application importing it must not")

# The documented table: | `Module` | job | depends on |, internal modules in backticks.
document = (root / "docs/ARCHITECTURE.md").read_text()
section = document.split("## Modules and dependency direction", 1)[1].split("\n## ", 1)[0]
documented = {}
for row in re.findall(r"^\| `([^`]+)`[^|]*\|[^\n]*\|([^|\n]*)\|\s*$", section, re.M):
    documented[row[0]] = set(re.findall(r"`([^`]+)`", row[1])) & internal
for name, target in sorted(targets.items()):
    if target.get("type") == "test":
        continue
    actual = set(target.get("target_dependencies", [])) & internal
    if name not in documented:
        problems.append(f"docs/ARCHITECTURE.md: the module table has no row for `{name}` (depends on {sorted(actual)})")
    elif documented[name] != actual:
        problems.append(f"docs/ARCHITECTURE.md: `{name}` is documented to depend on {sorted(documented[name])}, Package.swift says {sorted(actual)}")

if problems:
    print("\n".join(problems))
    print(f"check-architecture: {len(problems)} problem(s)")
    sys.exit(1)
print(f"check-architecture: {len([t for t in targets.values() if t.get('type') != 'test'])} modules, imports declared, dependencies point down, the table matches")
