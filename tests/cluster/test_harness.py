"""The harness on its own: the private PostgreSQL answers, a fresh database per test exists,
and three nodes *without* --postgres start, log in and carry a room each. When a cluster test
fails, this one tells whether the harness or the server is at fault."""
from __future__ import annotations

import asyncio

from harness import Client, Node, RoomFollower, Sender, assert_gapless, read_whole_room, start_together


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


async def test_harness_room_follower_resumes_with_since_and_epoch(binary, test_artifacts):
    """The follower the fault tests rely on, against one standalone node: dropped twice
    (once for long enough that the recovery overflows the join ack), it still ends with every
    message exactly once and in order, and reports no problem."""
    # a 256 KiB outbound queue bounds a reply's history at 64 KiB: four of the large messages
    node = Node(binary, "solo", test_artifacts, postgres_url=None,
                extra_args=["--max-queued-bytes", str(256 * 1024)])
    try:
        await asyncio.to_thread(start_together, [node])
        follower = await RoomFollower("follower", "follow", [node], node, reconnect_delay=1.0).start()
        sender_client = await Client.connect(node, "sender")
        await sender_client.join("follow")
        sender = Sender(sender_client, "follow", "s", window=4)
        for round_ in range(2):
            traffic = asyncio.create_task(sender.run(count=60))
            await asyncio.sleep(0.05 * round_)
            await follower.client.close()  # the follower sees its connection drop mid-stream
            await traffic
            await follower.wait_for_seq(sum(1 for _ in sender.acked), 10)
            sender.tag = "😀" * 4000  # the second round's bodies: 16 KiB, more than one ack holds
        assert not sender.refused and not sender.unanswered, sender.refused[:1]
        _, stored = await read_whole_room(sender_client, "follow")
        assert_gapless(stored)
        await follower.wait_for_seq(stored[-1]["seq"], 10)
        assert follower.problems == [], follower.problems
        assert len(follower.reconnects) == 2 and follower.resumed_with_more >= 1, \
            (follower.reconnects, follower.resumed_with_more)
        assert sorted(follower.received) == [m["seq"] for m in stored]
        await follower.stop()
    finally:
        node.stop(timeout=3)
