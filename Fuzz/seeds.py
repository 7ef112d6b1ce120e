#!/usr/bin/env python3
"""Writes the first inputs of each fuzz target into Fuzz/Corpus/<target>/ (seed-*), from real
encoders: record batches built by kafka-python (every codec, idempotent and plain), payloads
compressed by the codecs' own Python bindings, the example view definitions, and HTTP bodies
from the API's documentation. The fuzzer grows the corpus from these; scripts/fuzz merges it."""
import gzip, json, os, pathlib, shutil, sys
import lz4.frame, zstandard, cramjam
from kafka.record.default_records import DefaultRecordBatchBuilder

root = pathlib.Path(__file__).resolve().parent
corpus = root / "Corpus"

def write(target, name, data):
    directory = corpus / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data)

def batch(codec, records, producer_id=-1, sequence=-1, epoch=-1):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=producer_id, producer_epoch=epoch,
                                        base_sequence=sequence, batch_size=1 << 20)
    for i, (key, value, headers) in enumerate(records):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=key, value=value, headers=headers)
    return bytes(builder.build())

records = [(b"acc-1", b'{"type":"Deposited","amount":100}', []),
           (b"acc-2", b'{"type":"Withdrawn","amount":30}', [("ce_type", b"Withdrawn")]),
           (None, b"x" * 300, []), (b"acc-1", None, [])]
for codec, name in [(0, "none"), (1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")]:
    write("batches", f"{name}", batch(codec, records))
    write("batches", f"{name}-idempotent", batch(codec, records[:2], producer_id=7, sequence=0, epoch=0))
write("batches", "single", batch(0, records[:1]))

payload = json.dumps({"items": [{"sku": f"trousers-{i}", "quantity": i} for i in range(20)]}).encode()
write("codecs", "gzip", bytes([0]) + gzip.compress(payload))
write("codecs", "snappy", bytes([1]) + bytes(cramjam.snappy.compress_raw(payload)))
write("codecs", "snappy-xerial", bytes([1]) + b"\x82SNAPPY\x00" + (1).to_bytes(4, "big") + (1).to_bytes(4, "big")
      + len(bytes(cramjam.snappy.compress_raw(payload))).to_bytes(4, "big") + bytes(cramjam.snappy.compress_raw(payload)))
write("codecs", "lz4", bytes([2]) + lz4.frame.compress(payload))
write("codecs", "zstd", bytes([3]) + zstandard.ZstdCompressor().compress(payload))
write("codecs", "roundtrip", bytes([0x80]) + payload)

for sql in sorted((root.parent / "Examples" / "views").glob("*.sql")):
    write("views", sql.stem, sql.read_bytes())
for i, query in enumerate([
        "SELECT account, balance FROM balances WHERE balance > :min ORDER BY account LIMIT 10",
        "WITH t AS (SELECT sku, sum(quantity) q FROM cart_lines GROUP BY sku) SELECT * FROM t WHERE q > 0",
        "VALUES (1, 'a'), (2, 'b')",
        "select $$dollar$$, 'it''s', \"quoted id\", [bracket], `tick` -- comment\n/* block */ from x",
        "SELECT set_config('role', 'x', true)", "ATTACH DATABASE '/tmp/x' AS x"]):
    write("views", f"query-{i}", query.encode())

bodies = [
    [{"type": "Deposited", "data": {"amount": 100}, "id": "7d3c0a52-3b4c-4f2e-9a35-6c1f0b6f2d11"}],
    {"type": "ItemAdded", "data": {"sku": "trousers", "quantity": 3}, "metadata": {"user": "u1"},
     "occurredAt": "2026-12-05T10:00:00.123Z"},
    [{"type": "Raw", "data_base64": "AAECAwQ=", "datacontenttype": "application/octet-stream"}],
    {"name": "orders", "partitions": 3, "configs": {"cleanup.policy": "compact"}},
    {"sql": "SELECT * FROM balances WHERE account = :account", "params": {"account": "acc-1"}},
    {"state": {"balance": 70}, "version": 2},
]
for i, body in enumerate(bodies):
    write("http", f"body-{i}", json.dumps(body).encode())
write("http", "numbers", b'[0, -0, 1.5e300, -1E-300, 12345678901234567890, 9223372036854775807, "\\ud83d\\ude00\\u0000"]')

fixtures = root.parent / "Tests" / "SteleKafkaProtocolTests" / "Fixtures"
for fixture in sorted(fixtures.glob("*.bin")):
    (corpus / "requests").mkdir(parents=True, exist_ok=True)
    shutil.copy(fixture, corpus / "requests" / f"seed-{fixture.stem}")
print("seeds written under", corpus)
