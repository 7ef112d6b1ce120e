#!/usr/bin/env python3
"""Transaction version 2 (KIP-890 part 2) on the wire against `stele serve`.

No Python or C client speaks it yet (Kafka's Java client 4.0+ does), so this test is the
client: it encodes and decodes every request with kafka-python's protocol classes, generated
from Kafka's own message schemas (an encoder independent of Stele's), over a plain socket,
and drives the exchange a Java producer with transaction.version 2 drives:

- ApiVersions v4 (and v3) finalize `transaction.version` 2, with a finalized-features epoch a
  client will read; Produce 12, EndTxn 5 and TxnOffsetCommit 5 are advertised;
- Produce v12 adds its partition to the transaction itself (no AddPartitionsToTxn), and
  TxnOffsetCommit v5 its group (no AddOffsetsToTxn);
- every EndTxn v5 answers the next epoch (the producer continues with it, its sequences from
  0), and the records commit or abort as decided — read back by a read_committed
  confluent-kafka consumer, the committed offsets by its `committed()`;
- KAFKA-17754, the Jepsen finding: an EndTxn of an ended transaction arriving late, while the
  next transaction is open, is PRODUCER_FENCED and decides nothing; a retry of an end while
  its transaction is still the last gets the same answer; a late batch of the old epoch is
  refused (INVALID_PRODUCER_EPOCH).

usage: transactions_v2.py BOOTSTRAP
"""
import socket
import struct
import sys
import time
import uuid

from kafka.protocol.metadata.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.protocol.producer.transaction import (EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
                                                 InitProducerIdResponse, TxnOffsetCommitRequest,
                                                 TxnOffsetCommitResponse)
from kafka.record.default_records import DefaultRecordBatchBuilder
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from progress import Progress

NONE, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, CONCURRENT_TRANSACTIONS, PRODUCER_FENCED = 0, 47, 48, 51, 90

bootstrap = sys.argv[1]
host, port = bootstrap.rsplit(":", 1)
suffix = uuid.uuid4().hex[:8]
topic, group, txn_id = f"tv2-{suffix}", f"tv2-group-{suffix}", f"tv2-{suffix}"


class Connection:
    """One socket, one request at a time, as a client's connection to its coordinator."""

    def __init__(self):
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.correlation = 0

    def call(self, request, response_class, version):
        self.correlation += 1
        request.with_header(correlation_id=self.correlation, client_id="tv2-test")
        self.sock.sendall(request.encode(version=version, header=True, framed=True))
        size = struct.unpack(">i", self.recv(4))[0]
        response = response_class.decode(self.recv(size), version=version, header=True)
        assert response.header.correlation_id == self.correlation, "answers in order"
        return response

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the broker closed the connection"
            data += chunk
        return data


def batch(producer_id, epoch, sequence, values):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=1, producer_id=producer_id,
                                        producer_epoch=epoch, base_sequence=sequence, batch_size=1 << 20)
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=int(time.time() * 1000), key=b"k", value=value.encode(), headers=[])
    return bytes(builder.build())


def produce(connection, producer_id, epoch, sequence, values, partition=0):
    request = ProduceRequest(transactional_id=txn_id, acks=-1, timeout_ms=30000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.TopicProduceData.PartitionProduceData(index=partition, records=batch(producer_id, epoch, sequence, values))])])
    response = connection.call(request, ProduceResponse, 12)
    return response.responses[0].partition_responses[0].error_code


def end(connection, producer_id, epoch, commit):
    response = connection.call(EndTxnRequest(transactional_id=txn_id, producer_id=producer_id, producer_epoch=epoch, committed=commit),
                               EndTxnResponse, 5)
    return response.error_code, response.producer_id, response.producer_epoch


def check(condition, message):
    if not condition:
        print(f"transactions_v2: FAIL: {message}")
        sys.exit(1)


def step(message):
    print(f"transactions_v2: {message}", flush=True)


admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
    future.result()

# ApiVersions: the feature, and the versions that carry it.
connection = Connection()
for version in (3, 4):
    versions = connection.call(ApiVersionsRequest(client_software_name="tv2-test", client_software_version="1"),
                               ApiVersionsResponse, version)
    check(versions.error_code == NONE, f"ApiVersions v{version} answered {versions.error_code}")
    finalized = {f.name: (f.min_version_level, f.max_version_level) for f in versions.finalized_features}
    check(finalized.get("transaction.version") == (2, 2), f"ApiVersions v{version} finalizes transaction.version 2: {finalized}")
    check(versions.finalized_features_epoch >= 0, "a finalized-features epoch clients read (they skip -1)")
    supported = {f.name: (f.min_version, f.max_version) for f in versions.supported_features}
    check(supported.get("transaction.version") == ((0, 2) if version >= 4 else None),
          f"ApiVersions v{version} supported features {supported} (v3 omits a minimum of 0, KAFKA-17011)")
    ranges = {k.api_key: (k.min_version, k.max_version) for k in versions.api_keys}
    check(ranges[0][1] >= 12 and ranges[26][1] >= 5 and ranges[28][1] >= 5, f"Produce 12, EndTxn 5, TxnOffsetCommit 5 advertised: {ranges}")
step("ApiVersions v3 and v4 finalize transaction.version 2")

found = connection.call(FindCoordinatorRequest(key_type=1, coordinator_keys=[txn_id]), FindCoordinatorResponse, 4)
check(found.coordinators[0].error_code == NONE, f"FindCoordinator: {found.coordinators[0].error_code}")
init = connection.call(InitProducerIdRequest(transactional_id=txn_id, transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1),
                       InitProducerIdResponse, 4)
check(init.error_code == NONE, f"InitProducerId: {init.error_code}")
pid, epoch = init.producer_id, init.producer_epoch

# Transaction 1: Produce v12 adds the partition itself; TxnOffsetCommit v5 adds the group.
check(produce(connection, pid, epoch, 0, ["one", "two"]) == NONE, "Produce v12 with no AddPartitionsToTxn")
commit = connection.call(TxnOffsetCommitRequest(transactional_id=txn_id, group_id=group, producer_id=pid, producer_epoch=epoch,
                                                generation_id=-1, member_id="", group_instance_id=None, topics=[
                                                    TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(name=topic, partitions=[
                                                        TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic.TxnOffsetCommitRequestPartition(
                                                            partition_index=1, committed_offset=5, committed_leader_epoch=-1, committed_metadata="")])]),
                         TxnOffsetCommitResponse, 5)
check(commit.topics[0].partitions[0].error_code == NONE, f"TxnOffsetCommit v5 with no AddOffsetsToTxn: {commit.topics[0].partitions[0].error_code}")
code, pid1, epoch1 = end(connection, pid, epoch, True)
check(code == NONE and pid1 == pid and epoch1 == epoch + 1, f"EndTxn v5 answers the next epoch: {code} {pid1} {epoch1} (was {epoch})")
step("transaction 1 committed; EndTxn v5 answered epoch %d -> %d" % (epoch, epoch1))

# A retry of that end (its answer lost) gets the same answer.
code, pid_r, epoch_r = end(connection, pid, epoch, True)
check((code, pid_r, epoch_r) == (NONE, pid1, epoch1), f"a retry of the end is answered as it was: {code} {pid_r} {epoch_r}")

# Transaction 2 at the new epoch, sequences from 0.
check(produce(connection, pid1, epoch1, 0, ["three"]) == NONE, "the next transaction at the new epoch, sequence 0")
# A batch of the old epoch, delayed: refused.
check(produce(connection, pid, epoch, 2, ["late"]) == INVALID_PRODUCER_EPOCH, "a late batch of the old epoch is INVALID_PRODUCER_EPOCH")
# KAFKA-17754: the first end arrives late (a second connection, as a client's retry on a new
# one would) while transaction 2 is open. Under the old protocol it would commit it.
late = Connection()
code, _, _ = end(late, pid, epoch, True)
check(code == PRODUCER_FENCED, f"a delayed EndTxn of an ended transaction is PRODUCER_FENCED, not a decision: {code}")
code, pid2, epoch2 = end(connection, pid1, epoch1, False)
check(code == NONE and epoch2 == epoch1 + 1, f"transaction 2 aborted, epoch {epoch1} -> {epoch2}: {code}")
step("a delayed EndTxn was fenced; transaction 2 aborted as its producer decided")

# Transaction 3 commits at the epoch after that.
check(produce(connection, pid2, epoch2, 0, ["four", "five"]) == NONE, "transaction 3")
code, _, epoch3 = end(connection, pid2, epoch2, True)
check(code == NONE and epoch3 == epoch2 + 1, f"transaction 3 committed: {code} {epoch3}")

# What a read_committed consumer sees: transactions 1 and 3, never 2.
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{suffix}", "isolation.level": "read_committed",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, 0, 0)])
seen = []
# Transaction 2's record lies between transaction 1's and 3's: had it been visible, it would
# come before "four", so reading up to "five" settles it without waiting for an absence.
waiting = Progress("read_committed to reach transaction 3")
while len(seen) < 4:
    message = consumer.poll(1.0)
    if message is not None and message.error() is None:
        seen.append(message.value().decode())
    waiting.check(len(seen), shown=seen)
check(seen == ["one", "two", "four", "five"], f"read_committed saw exactly the committed records: {seen}")
consumer.close()
offsets = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
committed = offsets.committed([TopicPartition(topic, 1)], timeout=30)
offsets.close()
check(committed[0].offset == 5, f"the offset committed with transaction 1 is the group's: {committed[0].offset}")
step("read_committed saw transactions 1 and 3 only; the group's offset came with transaction 1")
print("transactions_v2: PASS")
