"""One room, senders on all three nodes at once: the database orders them into one stream."""
from __future__ import annotations

import asyncio
import os

from harness import Client, Sender, assert_gapless, read_whole_room

SENDERS_PER_NODE = 2
MESSAGES_PER_SENDER = int(os.environ.get("CLUSTER_MESSAGES_PER_SENDER", "60"))


async def test_concurrent_senders_on_three_nodes_make_one_gapless_stream(cluster):
    room = "storm"
    senders: list[Sender] = []
    listeners: list[Client] = []
    for node in cluster.nodes:
        listener = await Client.connect(node, f"listen-{node.name}")
        await listener.join(room)
        listeners.append(listener)
        for i in range(SENDERS_PER_NODE):
            client = await Client.connect(node, f"send-{node.name}-{i}")
            await client.join(room)
            senders.append(Sender(client, room, client.user, window=4))
    total = len(senders) * MESSAGES_PER_SENDER

    await asyncio.gather(*(s.run(count=MESSAGES_PER_SENDER) for s in senders))

    acked: dict[int, tuple[str, str]] = {}
    for s in senders:
        assert not s.refused and not s.unanswered and not s.timed_out, \
            (s.tag, s.refused[:3], s.unanswered[:3], s.timed_out[:3])
        for seq, body in s.acked.items():
            assert seq not in acked, f"seq {seq} acked to {s.tag} and to {acked[seq][0]}"
            acked[seq] = (s.client.user, body)
    assert sorted(acked) == list(range(1, total + 1)), "acks' seqs are not exactly 1..N"

    # every member connection, on every node, senders included, sees 1..N in order
    for member in listeners + [s.client for s in senders]:
        got = await member.wait_messages(room, total, timeout=30)
        assert_gapless(got, what=f"delivery to {member}")
        assert len(got) == total, f"{member}: {len(got)} deliveries for {total} messages"
        for m in got:
            assert (m["from"], m["message"]) == acked[m["seq"]], (member, m)

    # and the stored stream is the same one
    _, stored = await read_whole_room(listeners[0], room)
    assert [(m["seq"], m["from"], m["message"]) for m in stored] == \
        [(seq, *acked[seq]) for seq in range(1, total + 1)]
