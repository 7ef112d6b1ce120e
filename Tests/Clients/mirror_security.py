#!/usr/bin/env python3
"""The mirror across sites with security on both ends, real processes and real clients:

- the source serves SASL_SSL (SCRAM-SHA-512, a certificate for localhost and 127.0.0.1 from a
  test CA); the mirror logs in as `mirror` with a client properties file;
- the target runs with --authorizer acl and the mirror inside it (--mirror-source), which logs
  in to the target's own SASL_PLAINTEXT listener as `replicator`, a principal granted
  CLUSTER_ACTION and the mirror topics: every record arrives, at the source's offsets, and the
  records read back over SASL are the source's;
- refused, with the reason: the in-node mirror under ACLs without a principal; a properties
  file holding a password that others may read; a wrong password and a certificate from
  another CA (`stele mirror` says so in its log and copies nothing);
- no password of the properties files appears in a log or a data directory.

Waits are for progress, never for a fixed time.

usage: mirror_security.py BIN_DIR WORK (WORK holds ca.pem, rogue-ca.pem, server.pem, server.key)
"""
import os
import re
import signal
import subprocess
import sys
import time

from progress import Progress
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BIN, WORK = sys.argv[1], sys.argv[2]
STELE = os.path.join(BIN, "stele")
work = os.path.join(WORK, "mirror-security")
os.makedirs(work)
processes = []


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def run(*args, stdin=None):
    return subprocess.run([STELE, *args], input=stdin, capture_output=True, text=True, timeout=120)


def properties(name, text, mode=0o600):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def serve(name, *args):
    """Starts `stele serve`, waits until it serves HTTP; returns {protocol: port} and the process."""
    log_path = os.path.join(work, f"{name}.log")
    log = open(log_path, "ab")
    process = subprocess.Popen([STELE, "serve", "--data-dir", os.path.join(work, name), "--http-port", "0", *args], stdout=log, stderr=log)
    processes.append(process)
    progress = Progress(f"{name} to serve")
    while True:
        if process.poll() is not None:
            fail(f"{name} exited with {process.returncode}")
        with open(log_path) as f:
            text = f.read()
        if "serving HTTP" in text:
            ports = {protocol: int(port) for port, protocol in
                     re.findall(r"address=127\.0\.0\.1:(\d+) .*protocol=(\w+) .*serving the Kafka protocol", text)}
            return ports, process
        progress.check(len(text))
        time.sleep(0.05)


def wait_for_log(path, pattern, process, what):
    progress = Progress(what)
    while True:
        with open(path) as f:
            text = f.read()
        if re.search(pattern, text):
            return text
        if process.poll() is not None and not re.search(pattern, text):
            fail(f"{what}: the process exited with {process.returncode}")
        progress.check(len(text))
        time.sleep(0.05)


try:
    # Users before the servers start: passwords on standard input only.
    for data, user, password, mechanism in (("source", "mirror", "source-mirror-pw", "SCRAM-SHA-512"),
                                            ("target", "replicator", "target-replicator-pw", "SCRAM-SHA-256"),
                                            ("target", "admin", "target-admin-pw", "SCRAM-SHA-256")):
        os.makedirs(os.path.join(work, data), exist_ok=True)
        created = run("users", "create", user, "--data-dir", os.path.join(work, data), "--mechanism", mechanism, stdin=password + "\n")
        if created.returncode != 0:
            fail(f"users create {user}: {created.stderr}")
    acl_dir = os.path.join(work, "target")
    for grant in (["--operation", "CLUSTER_ACTION", "--cluster"],
                  ["--operation", "ALL", "--topic", "m-", "--prefixed"]):
        added = run("acls", "add", "--principal", "User:replicator", *grant, "--data-dir", acl_dir)
        if added.returncode != 0:
            fail(f"acls add {grant}: {added.stderr}")

    cert, key = os.path.join(WORK, "server.pem"), os.path.join(WORK, "server.key")
    source_ports, source_process = serve("source", "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
                                         "--sasl-mechanisms", "SCRAM-SHA-512", "--tls-cert", cert, "--tls-key", key)
    source_plain, source_secure = f"127.0.0.1:{source_ports['PLAINTEXT']}", source_ports["SASL_SSL"]
    admin = AdminClient({"bootstrap.servers": source_plain})
    for future in admin.create_topics([NewTopic("m-orders", 2, 1), NewTopic("other", 1, 1)]).values():
        future.result()
    producer = Producer({"bootstrap.servers": source_plain, "enable.idempotence": True, "linger.ms": 5})
    for i in range(1000):
        producer.produce("m-orders", key=f"k{i % 13}".encode(), value=f"order {i}".encode(), partition=i % 2)
    if producer.flush(60) != 0:
        fail("the source did not take every record")

    source_config = properties("source.properties", "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=mirror\n"
                               f"sasl.password=source-mirror-pw\nssl.ca.location={os.path.join(WORK, 'ca.pem')}\n")
    target_config = properties("target.properties", "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                               "sasl.username=replicator\nsasl.password=target-replicator-pw\n")
    acl_args = ["--listeners", "SASL_PLAINTEXT://127.0.0.1:0", "--sasl-mechanisms", "SCRAM-SHA-256", "--authorizer", "acl",
                "--super-users", "User:admin", "--mirror-source", f"localhost:{source_secure}", "--mirror-source-config", source_config,
                "--mirror-topics", "m-.*"]

    # Under ACLs the in-node mirror needs a principal of its own.
    refused = subprocess.run([STELE, "serve", "--data-dir", os.path.join(work, "refused"), "--http-port", "0", *acl_args],
                             capture_output=True, text=True, timeout=120)
    if refused.returncode == 0 or "needs --mirror-target-config" not in refused.stdout + refused.stderr:
        fail(f"serve --authorizer acl --mirror-source without a target config: {refused.returncode} {refused.stdout}{refused.stderr}")
    open_file = properties("open.properties", open(source_config).read(), mode=0o644)
    refused = subprocess.run([STELE, "mirror", "--source", f"localhost:{source_secure}", "--source-config", open_file, "--target", "127.0.0.1:1"],
                             capture_output=True, text=True, timeout=120)
    if refused.returncode == 0 or "chmod 600" not in refused.stdout + refused.stderr:
        fail(f"a password file others may read was accepted: {refused.stdout}{refused.stderr}")
    print("refused: the in-node mirror under ACLs without a principal; a password file others may read")

    target_ports, target_process = serve("target", *acl_args, "--mirror-target-config", target_config)
    target = f"127.0.0.1:{target_ports['SASL_PLAINTEXT']}"
    secured = {"bootstrap.servers": target, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
               "sasl.username": "admin", "sasl.password": "target-admin-pw"}

    def ends(config, topic, partitions):
        consumer = Consumer({**config, "group.id": "ends"})
        try:
            return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)]
        finally:
            consumer.close()

    wanted = ends({"bootstrap.servers": source_plain}, "m-orders", 2)
    progress = Progress("the mirror inside the ACL target to copy m-orders")
    while True:
        if target_process.poll() is not None:
            fail(f"the target exited with {target_process.returncode}")
        try:
            have = ends(secured, "m-orders", 2)
        except Exception as error:
            have = str(error)
        if have == wanted:
            break
        progress.check(have, shown=f"{have} of {wanted}")
        time.sleep(0.1)

    def records(config):
        consumer = Consumer({**config, "group.id": "reader", "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition("m-orders", p, 0) for p in range(2)])
        seen, progress = [], Progress("reading m-orders")
        while len(seen) < 1000:
            seen += [(m.partition(), m.offset(), m.key(), m.value()) for m in consumer.consume(500, 0.5) if m.error() is None]
            progress.check(len(seen))
        consumer.close()
        return sorted(seen)

    if records({"bootstrap.servers": source_plain}) != records(secured):
        fail("the target's records differ from the source's")
    # The in-node mirror over TLS to its own SSL listener, whose certificate names only the
    # advertised host (localhost), not the loopback address the mirror connects to.
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(work, "named.key"), "-out", os.path.join(work, "named.csr"),
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    with open(os.path.join(work, "named.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(work, "named.csr"), "-CA", os.path.join(WORK, "ca.pem"), "-CAkey", os.path.join(WORK, "ca.key"),
                    "-CAcreateserial", "-out", os.path.join(work, "named.pem"), "-days", "2", "-extfile", os.path.join(work, "named.ext")], check=True, capture_output=True)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tls_port = s.getsockname()[1]
    tls_config = properties("tls-target.properties", f"security.protocol=SSL\nssl.ca.location={os.path.join(WORK, 'ca.pem')}\n")
    tls_ports, tls_process = serve("tls-target", "--listeners", f"PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{tls_port}",
                                   "--advertised-listeners", f"SSL://localhost:{tls_port}", "--tls-cert", os.path.join(work, "named.pem"),
                                   "--tls-key", os.path.join(work, "named.key"), "--mirror-source", f"localhost:{source_secure}",
                                   "--mirror-source-config", source_config, "--mirror-target-config", tls_config, "--mirror-topics", "m-.*")
    progress = Progress("the in-node mirror over TLS to copy m-orders")
    while True:
        if tls_process.poll() is not None:
            fail(f"the TLS target exited with {tls_process.returncode}")
        try:
            have = ends({"bootstrap.servers": f"127.0.0.1:{tls_ports['PLAINTEXT']}"}, "m-orders", 2)
        except Exception as error:
            have = str(error)
        if have == wanted:
            break
        progress.check(have, shown=f"{have} of {wanted}")
        time.sleep(0.1)
    print("the in-node mirror over TLS: its own listener's certificate checked against the advertised host, every record copied")

    topics = AdminClient(secured).list_topics(timeout=30).topics
    if "other" in topics:
        fail("a topic outside --mirror-topics was mirrored")
    with open(os.path.join(work, "target.log")) as f:
        said = f.read()
    if "through=SASL_PLAINTEXT listener" not in said or "sasl.username=mirror" not in said:
        fail("the target's log does not say how the mirror connects")
    print(f"SASL_SSL source → ACL target through SASL_PLAINTEXT as User:replicator: {wanted} records at the source's offsets, the same bytes")

    # `stele mirror` with a wrong password, then with a certificate from another CA: it says why
    # in its log, retries, and copies nothing.
    for case, text, pattern in (
        ("wrong password", open(source_config).read().replace("source-mirror-pw", "not-the-password"), r"logging in to .* as mirror .*refused"),
        ("another CA", open(source_config).read().replace(os.path.join(WORK, "ca.pem"), os.path.join(WORK, "rogue-ca.pem")),
         r"(?i)certificate|handshake|verify"),
    ):
        path = properties(f"{case.replace(' ', '-')}.properties", text)
        log_path = os.path.join(work, f"mirror-{case.replace(' ', '-')}.log")
        log = open(log_path, "ab")
        process = subprocess.Popen([STELE, "mirror", "--source", f"127.0.0.1:{source_secure}", "--source-config", path,
                                    "--target", target, "--target-config", target_config, "--topics", "m-.*"], stdout=log, stderr=log)
        processes.append(process)
        said = wait_for_log(log_path, pattern + r"[\s\S]*connecting again", process, f"stele mirror to report the {case}")
        process.send_signal(signal.SIGTERM)
        process.wait()
        print(f"{case}: stele mirror refused to go on, with the reason: {said.strip().splitlines()[-1][:160]}")
    if ends(secured, "m-orders", 2) != wanted:
        fail("something was copied by a refused mirror")

    for process in (target_process, source_process):
        process.send_signal(signal.SIGTERM)
        process.wait()
    for secret in ("source-mirror-pw", "target-replicator-pw", "target-admin-pw", "not-the-password"):
        for root, _, files in os.walk(work):
            for name in files:
                if name.endswith(".properties"):
                    continue
                with open(os.path.join(root, name), "rb") as f:
                    if secret.encode() in f.read():
                        fail(f"the password {secret} is in clear in {os.path.join(root, name)}")
    print("no password of the properties files in a log or a data directory")
    print("PASS mirror_security")
finally:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
