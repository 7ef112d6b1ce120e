#!/usr/bin/env python3
"""Small requests that named one thing many times, against `stele serve`: each is answered once,
the repeats refused, and nothing is done twice (each used to make the broker do work or build a
response thousands of times the request's size).

- Metadata naming one topic 5,000 times: one topic in the answer (Kafka answers each once);
- ListOffsets naming one partition 5,000 times with the max-timestamp spec (-3, a scan of the
  segment each): one answer, the repeats INVALID_REQUEST;
- DescribeConfigs naming one topic 2,000 times with documentation: one description, the repeats
  INVALID_REQUEST;
- AddPartitionsToTxn naming one partition 5,000 times: after the abort, one marker, not 5,000.

Requests are encoded with kafka-python's protocol classes (generated from Kafka's schemas) over
a plain socket.

usage: amplification.py BOOTSTRAP
"""
import socket
import struct
import sys
import time
import uuid

from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.consumer.offsets import ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.admin.configs import DescribeConfigsRequest, DescribeConfigsResponse
from kafka.protocol.producer.transaction import (AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
                                                 EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse)
from kafka.protocol.admin.transactions import DescribeTransactionsRequest, DescribeTransactionsResponse
from confluent_kafka.admin import AdminClient, NewTopic

NONE, INVALID_REQUEST = 0, 42
bootstrap = sys.argv[1]
host, port = bootstrap.rsplit(":", 1)
topic = f"amp-{uuid.uuid4().hex[:8]}"
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, 4)])[topic].result(60)


class Connection:
    def __init__(self):
        self.sock = socket.create_connection((host, int(port)), timeout=120)
        self.correlation = 0

    def call(self, request, response_class, version):
        self.correlation += 1
        request.with_header(correlation_id=self.correlation, client_id="amplification-test")
        self.sock.sendall(request.encode(version=version, header=True, framed=True))
        size = struct.unpack(">i", self.recv(4))[0]
        return response_class.decode(self.recv(size), version=version, header=True), size

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the broker closed the connection"
            data += chunk
        return data


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL {message}")


connection = Connection()
metadata, size = connection.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)] * 5000), MetadataResponse, 1)
check([t.name for t in metadata.topics] == [topic], f"Metadata answered {len(metadata.topics)} topics for one named 5,000 times")
print(f"OK   Metadata naming one topic 5,000 times: one topic answered ({size} B)")

partition = ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(partition_index=0, timestamp=-3)
offsets, _ = connection.call(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[partition] * 5000)]),
                             ListOffsetsResponse, 7)
codes = [p.error_code for t in offsets.topics for p in t.partitions]
check(len(codes) == 5000 and codes[0] == NONE and set(codes[1:]) == {INVALID_REQUEST}, f"ListOffsets answered {sorted(set(codes))}")
print("OK   ListOffsets naming one partition 5,000 times: one answer, 4,999 INVALID_REQUEST")

resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=topic, configuration_keys=None)
configs, size = connection.call(DescribeConfigsRequest(resources=[resource] * 2000, include_synonyms=True, include_documentation=True),
                                DescribeConfigsResponse, 3)
codes = [r.error_code for r in configs.results]
check(codes[0] == NONE and set(codes[1:]) == {INVALID_REQUEST} and len(configs.results[0].configs) > 0, f"DescribeConfigs answered {sorted(set(codes))}")
check(all(not r.configs for r in configs.results[1:]), "a repeat was described")
print(f"OK   DescribeConfigs naming one topic 2,000 times: one description, the repeats INVALID_REQUEST ({size} B)")

txn = f"amp-{uuid.uuid4().hex[:8]}"
init, _ = connection.call(InitProducerIdRequest(transactional_id=txn, transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1),
                          InitProducerIdResponse, 3)
check(init.error_code == NONE, f"InitProducerId: {init.error_code}")
added, _ = connection.call(AddPartitionsToTxnRequest(v3_and_below_transactional_id=txn, v3_and_below_producer_id=init.producer_id,
                                                     v3_and_below_producer_epoch=init.producer_epoch,
                                                     v3_and_below_topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=[1] * 5000)]),
                           AddPartitionsToTxnResponse, 3)
check(all(p.partition_error_code == NONE for t in added.results_by_topic_v3_and_below for p in t.results_by_partition),
      f"AddPartitionsToTxn: {added}")
described, _ = connection.call(DescribeTransactionsRequest(transactional_ids=[txn]), DescribeTransactionsResponse, 0)
held = [(t.topic, p) for t in described.transaction_states[0].topics for p in t.partitions]
check(held == [(topic, 1)], f"the transaction holds {len(held)} partitions for one named 5,000 times")
ended, _ = connection.call(EndTxnRequest(transactional_id=txn, producer_id=init.producer_id, producer_epoch=init.producer_epoch, committed=False),
                           EndTxnResponse, 3)
check(ended.error_code == NONE, f"EndTxn: {ended.error_code}")
latest = ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(partition_index=1, timestamp=-1)
while True:  # the markers are written after the answer: read until they are there (no deadline)
    end, _ = connection.call(ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[latest])]),
                             ListOffsetsResponse, 7)
    offset = end.topics[0].partitions[0].offset
    if offset > 0:
        break
    time.sleep(0.01)  # a back-off between reads, not a deadline
check(offset == 1, f"{offset} markers written for one partition named 5,000 times")
print("OK   AddPartitionsToTxn naming one partition 5,000 times: the transaction holds it once, one marker at the abort")
print("amplification: PASS")
