#!/usr/bin/env python3
"""Records the request frames real Kafka clients send, as test fixtures.

Listens on --listen, forwards every connection to --broker (a running `stele serve`), and writes
the first request of each (client, api key, version) to --out as `<client>-<key>-v<version>.bin`
(the frame without its size prefix). The client is named from the request header's client id.
"""
import argparse
import asyncio
import os
import struct

API_NAMES = {0: "produce", 1: "fetch", 2: "listoffsets", 3: "metadata", 18: "apiversions",
             19: "createtopics", 20: "deletetopics", 22: "initproducerid", 23: "offsetforleaderepoch", 32: "describeconfigs",
             33: "alterconfigs", 35: "describelogdirs", 37: "createpartitions", 44: "incrementalalterconfigs", 21: "deleterecords",
             34: "alterreplicalogdirs", 43: "electleaders", 45: "alterpartitionreassignments", 46: "listpartitionreassignments",
             61: "describeproducers", 48: "describeclientquotas", 49: "alterclientquotas",
             75: "describetopicpartitions", 68: "consumergroupheartbeat", 69: "consumergroupdescribe",
             8: "offsetcommit", 9: "offsetfetch", 10: "findcoordinator", 11: "joingroup", 12: "heartbeat",
             13: "leavegroup", 14: "syncgroup", 15: "describegroups", 16: "listgroups", 42: "deletegroups",
             24: "addpartitionstotxn", 25: "addoffsetstotxn", 26: "endtxn", 28: "txnoffsetcommit",
             65: "describetransactions", 66: "listtransactions"}


def client_name(client_id):
    for prefix, name in (("rdkafka", "librdkafka"), ("kafka-python", "kafka-python"), ("aiokafka", "aiokafka"),
                         ("confluent", "librdkafka")):
        if client_id.startswith(prefix):
            return name
    return client_id.split("-")[0] or "unknown"


async def pump_requests(reader, writer, out):
    while True:
        head = await reader.readexactly(4)
        size = struct.unpack(">i", head)[0]
        frame = await reader.readexactly(size)
        key, version, _ = struct.unpack(">hhi", frame[:8])
        id_length = struct.unpack(">h", frame[8:10])[0]
        client_id = frame[10:10 + id_length].decode() if id_length > 0 else ""
        name = f"{client_name(client_id)}-{API_NAMES.get(key, key)}-v{version}.bin"
        path = os.path.join(out, name)
        if not os.path.exists(path):
            with open(path, "wb") as file:
                file.write(frame)
        writer.write(head + frame)
        await writer.drain()


async def pump(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    host, port = args.broker.split(":")

    async def handle(client_reader, client_writer):
        broker_reader, broker_writer = await asyncio.open_connection(host, int(port))
        try:
            await asyncio.gather(pump_requests(client_reader, broker_writer, args.out), pump(broker_reader, client_writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            client_writer.close()
            broker_writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
