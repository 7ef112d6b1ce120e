"""A two-broker Kafka cluster made of one broker: two TCP proxies in front of it, each posing as
a broker of its own. The proxies rewrite what a client learns of the cluster — Metadata v5
names both (node 1 and node 2) and leads even partitions from node 1, odd ones from node 2;
FindCoordinator v1 names node 2 — and check that the client then sends each request where a
Kafka cluster would want it: Fetch v11, ListOffsets v2 and Produce v8 to the partition's
leader, transaction and group-offset requests to the coordinator. Every request that reached
the wrong broker is recorded in `violations`, and each broker's share of partition requests in
`seen`, so a test can tell routing happened (a client talking to one broker only sends node 2's
partitions to node 1: answered, since both proxies reach the same broker, but recorded).

Only the request versions `stele mirror` sends are understood; others pass through unchecked.
"""
import socket
import struct
import threading

METADATA, FIND_COORDINATOR, FETCH, LIST_OFFSETS, PRODUCE = 3, 10, 1, 2, 0
INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, END_TXN, OFFSET_COMMIT, OFFSET_FETCH = 22, 24, 26, 8, 9
COORDINATED = {INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, END_TXN, OFFSET_COMMIT, OFFSET_FETCH}
COORDINATOR = 2


class Reader:
    def __init__(self, data, at=0):
        self.data, self.at = data, at

    def take(self, fmt):
        value = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value[0]

    def string(self):
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.at:self.at + length].decode()
        self.at += length
        return value

    def array(self, element):
        count = self.take(">i")
        return [element(self) for _ in range(max(count, 0))]


def string(value):
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def leader_of(partition):
    return 1 if partition % 2 == 0 else 2


class FakeCluster:
    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listeners = [socket.socket(), socket.socket()]
        for listener in self.listeners:
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
        self.ports = [listener.getsockname()[1] for listener in self.listeners]
        self.violations = []
        self.seen = {1: 0, 2: 0}
        self.lock = threading.Lock()
        for node, listener in ((1, self.listeners[0]), (2, self.listeners[1])):
            threading.Thread(target=self.accept, args=(node, listener), daemon=True).start()

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.ports[0]}"

    def accept(self, node, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            asked = {}
            threading.Thread(target=self.requests, args=(node, client, upstream, asked), daemon=True).start()
            threading.Thread(target=self.responses, args=(client, upstream, asked), daemon=True).start()

    @staticmethod
    def frames(sock):
        buffer = b""
        while True:
            while len(buffer) < 4 or len(buffer) < 4 + struct.unpack_from(">i", buffer)[0]:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return
                buffer += chunk
            size = struct.unpack_from(">i", buffer)[0]
            yield buffer[4:4 + size]
            buffer = buffer[4 + size:]

    def requests(self, node, client, upstream, asked):
        try:
            for frame in self.frames(client):
                reader = Reader(frame)
                key, version, correlation = reader.take(">h"), reader.take(">h"), reader.take(">i")
                reader.string()   # client id
                asked[correlation] = (key, version)
                try:
                    self.check(node, key, version, reader)
                except Exception as error:   # a request the checker cannot read is a failure, not a stall
                    with self.lock:
                        self.violations.append(f"api {key} v{version} on node {node} could not be read: {error!r}")
                upstream.sendall(struct.pack(">i", len(frame)) + frame)
        except (OSError, struct.error):
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def check(self, node, key, version, reader):
        partitions = []
        if key == FETCH and version == 11:
            reader.at += 4 * 4 + 1 + 4 * 2   # replica, max wait, min and max bytes, isolation, session id and epoch
            partitions = [(t, p) for t, ps in reader.array(lambda r: (r.string(), r.array(lambda r: (r.take(">i"), r.take(">i"), r.take(">q"), r.take(">q"), r.take(">i"))[0])))
                          for p in ps]
        elif key == LIST_OFFSETS and version == 2:
            reader.take(">i"), reader.take(">b")
            partitions = [(t, p) for t, ps in reader.array(lambda r: (r.string(), r.array(lambda r: (r.take(">i"), r.take(">q"))[0]))) for p in ps]
        elif key == PRODUCE and version == 8:
            reader.string(), reader.take(">h"), reader.take(">i")

            def records(r):
                index, length = r.take(">i"), r.take(">i")
                r.at += max(length, 0)
                return index
            partitions = [(t, p) for t, ps in reader.array(lambda r: (r.string(), r.array(records))) for p in ps]
        with self.lock:
            for topic, partition in partitions:
                self.seen[node] += 1
                if leader_of(partition) != node:
                    self.violations.append(f"api {key} for {topic}-{partition} sent to node {node}, its leader is {leader_of(partition)}")
            if key in COORDINATED and node != COORDINATOR:
                self.violations.append(f"api {key} sent to node {node}, the coordinator is {COORDINATOR}")

    def responses(self, client, upstream, asked):
        try:
            for frame in self.frames(upstream):
                correlation = struct.unpack_from(">i", frame)[0]
                key, version = asked.pop(correlation, (None, None))
                if key == METADATA and version == 5:
                    frame = frame[:4] + self.metadata(frame[4:])
                elif key == FIND_COORDINATOR and version == 1:
                    reader = Reader(frame, 4)
                    throttle, error, message = reader.take(">i"), reader.take(">h"), reader.string()
                    frame = frame[:4] + struct.pack(">ih", throttle, error) + string(message) + struct.pack(">i", COORDINATOR) \
                        + string("127.0.0.1") + struct.pack(">i", self.ports[COORDINATOR - 1])
                client.sendall(struct.pack(">i", len(frame)) + frame)
        except (OSError, struct.error):
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def metadata(self, body):
        reader = Reader(body)
        throttle = reader.take(">i")
        reader.array(lambda r: (r.take(">i"), r.string(), r.take(">i"), r.string()))
        cluster_id, controller = reader.string(), reader.take(">i")

        def partition(r):
            error, index, _ = r.take(">h"), r.take(">i"), r.take(">i")
            for _ in range(3):
                r.array(lambda r: r.take(">i"))
            return error, index

        topics = reader.array(lambda r: (r.take(">h"), r.string(), r.take(">b"), r.array(partition)))
        out = struct.pack(">i", throttle) + struct.pack(">i", 2)
        for node in (1, 2):
            out += struct.pack(">i", node) + string("127.0.0.1") + struct.pack(">i", self.ports[node - 1]) + string(None)
        out += string(cluster_id) + struct.pack(">i", 1) + struct.pack(">i", len(topics))
        for error, name, internal, partitions in topics:
            out += struct.pack(">h", error) + string(name) + struct.pack(">b", internal) + struct.pack(">i", len(partitions))
            for perror, index in partitions:
                leader = leader_of(index)
                out += struct.pack(">hii", perror, index, leader) + struct.pack(">ii", 1, leader) * 2 + struct.pack(">i", 0)
        return out
