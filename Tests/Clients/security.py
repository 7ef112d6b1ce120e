"""Kafka clients over Stele's TLS and SASL listeners, and what must be refused.

    python3 security.py DIR PLAINTEXT_PORT SASL_SSL_PORT SASL_PLAINTEXT_PORT SSL_PORT

DIR holds ca.pem, client.pem/client.key (signed by ca.pem), rogue.pem/rogue.key (signed by
another CA). Users: alice / alice-secret (SCRAM-SHA-256 and -512), bob / bob-pw (SCRAM-SHA-512).
Every case prints one line; the first failure exits 1.
"""
import asyncio, base64, hashlib, hmac, os, socket, ssl, struct, sys, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from progress import Progress

directory, plain_port, sasl_ssl_port, sasl_plain_port, ssl_port = sys.argv[1], *map(int, sys.argv[2:6])
ca = os.path.join(directory, "ca.pem")
failures = 0


def case(name, ok, detail=""):
    global failures
    print(("OK   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures += 1


# ---------------------------------------------------------------- real clients, allowed

def kafka_python_round_trip(name, port, **security):
    from kafka import KafkaConsumer, KafkaProducer
    topic = f"sec-kp-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", **security)
    for i in range(10):
        producer.send(topic, key=b"k", value=f"{name}-{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=f"127.0.0.1:{port}", group_id=f"g-{topic}", auto_offset_reset="earliest",
                             consumer_timeout_ms=1000, **security)
    got, progress = [], Progress(f"kafka-python {name} records")
    while len(got) < 10:
        got += [m.value.decode() for m in consumer]
        progress.check(len(got))
    consumer.commit()
    consumer.close()
    case(f"kafka-python {name}: produce, consume in a group, commit", got == [f"{name}-{i}" for i in range(10)], str(got))


def confluent_round_trip(name, port, **security):
    from confluent_kafka import Consumer, Producer
    topic = f"sec-ck-{uuid.uuid4().hex[:8]}"
    config = {"bootstrap.servers": f"127.0.0.1:{port}", **security}
    producer = Producer(config)
    for i in range(10):
        producer.produce(topic, key=b"k", value=f"{name}-{i}".encode())
    remaining = producer.flush(120)
    consumer = Consumer({**config, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got, progress = [], Progress(f"confluent-kafka {name} records")
    while len(got) < 10:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.value().decode())
        progress.check(len(got))
    consumer.commit(asynchronous=False)
    consumer.close()
    case(f"confluent-kafka {name}: produce, consume in a group, commit", remaining == 0 and got == [f"{name}-{i}" for i in range(10)], str(got))


def aiokafka_round_trip(name, port, **security):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run():
        topic = f"sec-ak-{uuid.uuid4().hex[:8]}"
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", **security)
        await producer.start()
        for i in range(10):
            await producer.send_and_wait(topic, f"{name}-{i}".encode(), key=b"k")
        await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=f"127.0.0.1:{port}", group_id=f"g-{topic}",
                                    auto_offset_reset="earliest", **security)
        await consumer.start()
        got, progress = [], Progress(f"aiokafka {name} records")
        while len(got) < 10:
            batch = await consumer.getmany(timeout_ms=500)
            got += [m.value.decode() for messages in batch.values() for m in messages]
            progress.check(len(got))
        await consumer.commit()
        await consumer.stop()
        return got

    got = asyncio.run(run())
    case(f"aiokafka {name}: produce, consume in a group, commit", got == [f"{name}-{i}" for i in range(10)], str(got))


def tls_context(certificate=None):
    context = ssl.create_default_context(cafile=ca)
    if certificate:
        context.load_cert_chain(os.path.join(directory, certificate + ".pem"), os.path.join(directory, certificate + ".key"))
    return context


alice = dict(sasl_plain_username="alice", sasl_plain_password="alice-secret")
for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]:
    kafka_python_round_trip(f"SASL_SSL {mechanism}", sasl_ssl_port, security_protocol="SASL_SSL", ssl_cafile=ca,
                            sasl_mechanism=mechanism, **alice)
    confluent_round_trip(f"SASL_SSL {mechanism}", sasl_ssl_port, **{"security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                         "sasl.mechanism": mechanism, "sasl.username": "alice", "sasl.password": "alice-secret"})
kafka_python_round_trip("SASL_PLAINTEXT SCRAM-SHA-512 (bob)", sasl_plain_port, security_protocol="SASL_PLAINTEXT",
                        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="bob", sasl_plain_password="bob-pw")
aiokafka_round_trip("SASL_SSL SCRAM-SHA-256", sasl_ssl_port, security_protocol="SASL_SSL", ssl_context=tls_context(),
                    sasl_mechanism="SCRAM-SHA-256", **alice)
aiokafka_round_trip("SASL_PLAINTEXT PLAIN", sasl_plain_port, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", **alice)
kafka_python_round_trip("SSL with a client certificate", ssl_port, security_protocol="SSL", ssl_cafile=ca,
                        ssl_certfile=os.path.join(directory, "client.pem"), ssl_keyfile=os.path.join(directory, "client.key"))
confluent_round_trip("SSL with a client certificate", ssl_port, **{"security.protocol": "SSL", "ssl.ca.location": ca,
                     "ssl.certificate.location": os.path.join(directory, "client.pem"),
                     "ssl.key.location": os.path.join(directory, "client.key")})

# ---------------------------------------------------------------- refused


def confluent_refused(name, **config):
    """librdkafka reports a failed authentication through error_cb (and keeps retrying)."""
    from confluent_kafka import KafkaError, Producer
    errors = []
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{sasl_ssl_port}", "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                         "error_cb": lambda error: errors.append(error), **config})
    progress = Progress(f"{name} to be refused")
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        producer.poll(0.2)
        progress.check(len(errors))
    metadata_failed = False
    try:
        producer.list_topics(timeout=2)
    except Exception:
        metadata_failed = True
    case(f"confluent-kafka {name} is refused (_AUTHENTICATION), no metadata", metadata_failed, str(errors[:2]))


confluent_refused("wrong password", **{"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "guess"})
confluent_refused("unknown user", **{"sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "mallory", "sasl.password": "alice-secret"})
confluent_refused("PLAIN wrong password", **{"sasl.mechanism": "PLAIN", "sasl.username": "bob", "sasl.password": "alice-secret"})


def frame(api, version, correlation, body):
    client = b"security-test"
    header = struct.pack(">hhih", api, version, correlation, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def kstring(text):
    return struct.pack(">h", len(text)) + text.encode()


def kbytes(data):
    return struct.pack(">i", len(data)) + data


def read_frame(sock):
    """The next response frame, or None when the server closed the connection."""
    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    size = exactly(4)
    if size is None:
        return None
    return exactly(struct.unpack(">i", size)[0])


def closed(sock):
    try:
        return read_frame(sock) is None
    except (ConnectionResetError, ssl.SSLError):
        return True


def connect(port, tls=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    return tls.wrap_socket(sock, server_hostname="localhost") if tls else sock


# A request other than ApiVersions and SASL before authenticating closes the connection.
sock = connect(sasl_plain_port)
sock.sendall(frame(3, 1, 1, struct.pack(">i", -1)))  # Metadata v1, all topics
case("a Metadata request before authenticating closes the connection", closed(sock))

# ApiVersions is answered before authenticating, and advertises SASL.
sock = connect(sasl_plain_port)
sock.sendall(frame(18, 0, 2, b""))
answer = read_frame(sock)
keys = {struct.unpack(">h", answer[10 + 6 * i:12 + 6 * i])[0] for i in range(struct.unpack(">i", answer[6:10])[0])} if answer else set()
case("ApiVersions is answered before authenticating and lists SaslHandshake and SaslAuthenticate", {17, 36} <= keys, str(sorted(keys)))

# An unknown mechanism: error 33 with the enabled list, then the connection closes.
sock.sendall(frame(17, 1, 3, kstring("GSSAPI")))
answer = read_frame(sock)
code = struct.unpack(">h", answer[4:6])[0] if answer else None
case("SaslHandshake with a mechanism not enabled: UNSUPPORTED_SASL_MECHANISM (33), then closed",
     code == 33 and b"SCRAM-SHA-512" in answer and closed(sock), f"code {code}")


def scram_attempt(user, password, tamper_proof=False, tamper_nonce=False):
    """SCRAM-SHA-256 over SaslHandshake v1 + SaslAuthenticate v1; the final error code."""
    sock = connect(sasl_plain_port)
    sock.sendall(frame(17, 1, 1, kstring("SCRAM-SHA-256")))
    read_frame(sock)
    client_nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={client_nonce}"
    sock.sendall(frame(36, 1, 2, kbytes(("n,," + first_bare).encode())))
    answer = read_frame(sock)
    code, = struct.unpack(">h", answer[4:6])
    if code != 0:
        return code, closed(sock)
    length, = struct.unpack(">h", answer[6:8])
    offset = 8 + max(length, 0)
    size, = struct.unpack(">i", answer[offset:offset + 4])
    server_first = answer[offset + 4:offset + 4 + size].decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    nonce = fields["r"] + ("x" if tamper_nonce else "")
    without_proof = f"c=biws,r={nonce}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    if tamper_proof:
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    sock.sendall(frame(36, 1, 3, kbytes(f"{without_proof},p={base64.b64encode(proof).decode()}".encode())))
    answer = read_frame(sock)
    code, = struct.unpack(">h", answer[4:6])
    return code, (closed(sock) if code != 0 else False)


case("SCRAM from a hand-written client: the right password authenticates", scram_attempt("alice", "alice-secret") == (0, False))
case("SCRAM with a proof off by one bit: SASL_AUTHENTICATION_FAILED (58), then closed", scram_attempt("alice", "alice-secret", tamper_proof=True) == (58, True))
case("SCRAM with a wrong nonce: 58, then closed", scram_attempt("alice", "alice-secret", tamper_nonce=True) == (58, True))
case("SCRAM for an unknown user: 58, then closed", scram_attempt("mallory", "alice-secret") == (58, True))

# A plaintext client on a TLS port gets no Kafka answer.
sock = connect(sasl_ssl_port)
sock.sendall(frame(18, 0, 1, b""))
try:
    answer = read_frame(sock)
except OSError:
    answer = None
case("a plaintext client on a SASL_SSL port gets no Kafka answer", answer is None or answer[:4] != struct.pack(">i", 1))


def tls_refused(certificate):
    try:
        sock = connect(ssl_port, tls_context(certificate))
        sock.sendall(frame(18, 0, 1, b""))
        return read_frame(sock) is None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


case("an SSL listener with a client CA refuses a client without a certificate", tls_refused(None))
case("an SSL listener refuses a client certificate from another CA", tls_refused("rogue"))
case("an SSL listener accepts the CA's client certificate (ApiVersions answered)", not tls_refused("client"))

# The PLAINTEXT listener beside them still needs nothing.
kafka_python_round_trip("PLAINTEXT beside the secured listeners", plain_port)

print("security clients: " + ("PASS" if failures == 0 else f"{failures} FAILED"))
sys.exit(1 if failures else 0)
