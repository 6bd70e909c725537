"""The harness on its own: the private PostgreSQL answers, a fresh database per test exists,
and three nodes *without* --postgres start, log in and carry a room each. When a cluster test
fails, this one tells whether the harness or the server is at fault."""
from __future__ import annotations

import asyncio

from harness import Client, Node, start_together


async def test_harness_postgres_and_three_standalone_nodes(binary, postgres, database, test_artifacts):
    assert postgres.sql("SELECT current_setting('server_version_num')::int >= 150000")[0] == ["t"]
    assert postgres.sql("SELECT 1", database) == [["1"]]
    assert postgres.sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [["t"]]

    nodes = [Node(binary, f"solo-{i}", test_artifacts, postgres_url=None) for i in range(3)]
    try:
        await asyncio.to_thread(start_together, nodes)
        clients = await asyncio.gather(*(Client.connect(n, f"user{i}") for i, n in enumerate(nodes)))
        for i, c in enumerate(clients):
            ack = await c.join("harness")
            assert ack["members"] == [f"user{i}"] and ack["seq"] == 0, ack
            assert await c.send("harness", f"hello from {i}") == 1
            [message] = await c.wait_messages("harness", 1)
            assert message["from"] == f"user{i}" and message["message"] == f"hello from {i}"
        nodes[1].kill9()
        await asyncio.wait_for(clients[1].closed.wait(), 5)
        assert clients[1].close_code == 1006, clients[1].close_code
    finally:
        for n in nodes:
            n.stop(timeout=3)
