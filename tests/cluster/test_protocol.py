"""Every protocol behaviour of PROTOCOL.md v1.1 with the clients spread over three nodes:
members on different nodes see one room (presence, seq, epoch, history, recovery, paging,
acks, errors, tickets, idempotency keys)."""
from __future__ import annotations

import asyncio

import pytest

from harness import (SENT_FORMAT, Client, ProtocolError, Sender, assert_gapless, login,
                     read_whole_room, upgrade_status)

# Long enough for a cross-node event to be delivered by the safety poll (1 s) if its
# notification were lost, so "nothing more arrived" means nothing more will.
SETTLE = 1.5
# a presence announcement lost on the way would still show within a poll; more is a loss
POLL_AND_SLACK = 3.0


async def connect_all(pairs):
    return await asyncio.gather(*(Client.connect(node, user) for node, user in pairs))


async def test_presence_join_leave_across_nodes(cluster):
    a, b, c = cluster.nodes
    alice, bob, carol = await connect_all([(a, "alice"), (b, "bob"), (c, "carol")])

    first = await alice.join("lobby")
    assert first["room"] == "lobby" and first["members"] == ["alice"], first
    assert first["seq"] == 0 and first["history"] == [] and first["more"] is False, first
    epoch = first["epoch"]
    assert isinstance(epoch, str) and epoch, first

    ack = await bob.join("lobby")
    assert ack["epoch"] == epoch, ack
    await bob.wait_members("lobby", ["alice", "bob"])
    await alice.wait_event("user_joined", "lobby", user="bob")

    ack = await carol.join("lobby")
    assert ack["epoch"] == epoch, ack
    await carol.wait_members("lobby", ["alice", "bob", "carol"])
    await alice.wait_event("user_joined", "lobby", user="carol")
    await bob.wait_event("user_joined", "lobby", user="carol")

    # joining again is idempotent: same members, nobody told twice
    again = await bob.join("lobby")
    assert sorted(again["members"]) == ["alice", "bob", "carol"], again

    assert await bob.leave("lobby") == {"room": "lobby"}
    await alice.wait_event("user_left", "lobby", user="bob")
    await carol.wait_event("user_left", "lobby", user="bob")
    with pytest.raises(ProtocolError) as refused:
        await bob.leave("lobby")
    assert refused.value.code == "not_in_room"

    # a connection that goes away leaves its rooms everywhere
    await carol.close()
    await alice.wait_event("user_left", "lobby", user="carol")

    dave = await Client.connect(b, "dave")
    await dave.join("lobby")
    await dave.wait_members("lobby", ["alice", "dave"])
    await alice.wait_event("user_joined", "lobby", user="dave")

    await asyncio.sleep(SETTLE)
    for user, joined, left in (("bob", 1, 1), ("carol", 1, 1), ("dave", 1, 0)):
        assert len(alice.find("user_joined", "lobby", user=user)) == joined, (user, alice.events)
        assert len(alice.find("user_left", "lobby", user=user)) == left, (user, alice.events)
    # nobody hears about themselves, and bob, gone from the room, hears nothing of it
    assert not alice.find("user_joined", user="alice") and not alice.find("user_left", user="alice")
    assert not bob.find("user_joined", user="dave") and not bob.find("user_left", user="carol"), bob.events


async def test_user_on_two_nodes_is_one_member(cluster):
    a, b, c = cluster.nodes
    watcher = await Client.connect(c, "watcher")
    await watcher.join("pair")

    alice_a = await Client.connect(a, "alice")
    await alice_a.join("pair")
    await alice_a.wait_members("pair", ["alice", "watcher"])
    await watcher.wait_event("user_joined", "pair", user="alice")

    alice_b = await Client.connect(b, "alice")
    ack = await alice_b.join("pair")
    assert sorted(ack["members"]) == ["alice", "watcher"], ack  # alice once

    # her first connection going away is not her leaving
    await alice_a.close()
    late = await Client.connect(a, "late")
    await late.join("pair")
    await late.wait_members("pair", ["alice", "late", "watcher"])
    await asyncio.sleep(SETTLE)
    assert len(watcher.find("user_joined", "pair", user="alice")) == 1, watcher.events
    assert watcher.find("user_left", "pair", user="alice") == [], watcher.events
    assert alice_b.find("user_joined", "pair", user="alice") == [], alice_b.events

    # her last connection leaving is
    await alice_b.leave("pair")
    await watcher.wait_event("user_left", "pair", user="alice")
    await late.wait_event("user_left", "pair", user="alice")
    after = await Client.connect(b, "after")
    await after.join("pair")
    await after.wait_members("pair", ["after", "late", "watcher"])
    await asyncio.sleep(SETTLE)
    assert len(watcher.find("user_left", "pair", user="alice")) == 1, watcher.events
    assert len(late.find("user_left", "pair", user="alice")) == 1, late.events


async def test_messages_acks_and_history_across_nodes(cluster):
    a, b, c = cluster.nodes
    alice, bob, carol = members = await connect_all([(a, "alice"), (b, "bob"), (c, "carol")])
    epochs = {(await m.join("chat"))["epoch"] for m in members}
    assert len(epochs) == 1, epochs

    for i, sender in enumerate(members):
        assert await sender.send("chat", f"message {i}") == i + 1
    # a `from` sent by the client is ignored
    spoof = await alice.call("send_message", {"room": "chat", "message": "spoof", "from": "mallory"})
    assert spoof == {"room": "chat", "seq": 4}, spoof

    expected = [("alice", "message 0"), ("bob", "message 1"), ("carol", "message 2"), ("alice", "spoof")]
    seen = {}
    for m in members:
        got = await m.wait_messages("chat", 4)
        assert [(x["from"], x["message"]) for x in got] == expected, (m, got)
        assert [x["seq"] for x in got] == [1, 2, 3, 4], got
        assert all(x["room"] == "chat" and SENT_FORMAT.match(x["sent"]) for x in got), got
        seen[m.user] = got
    # one stored message, one timestamp: every node delivers the same payload
    assert seen["alice"] == seen["bob"] == seen["carol"], seen

    # a late joiner on any node gets the same history; so does `history` without membership
    dave = await Client.connect(c, "dave")
    ack = await dave.join("chat")
    assert ack["seq"] == 4 and ack["more"] is False and ack["epoch"] in epochs, ack
    assert ack["history"] == seen["alice"], ack
    eve = await Client.connect(b, "eve")
    page = await eve.history("chat", since=0)
    assert page["messages"] == seen["alice"] and page["more"] is False and page["epoch"] in epochs, page

    await asyncio.sleep(SETTLE)
    for m in members:
        assert len(m.messages("chat")) == 4, m.events  # exactly once


async def test_since_and_epoch_recovery_across_nodes(cluster):
    a, b, c = cluster.nodes
    alice = await Client.connect(a, "alice")
    epoch = (await alice.join("rec"))["epoch"]
    for i in range(5):
        await alice.send("rec", f"m{i + 1}")

    async def join_on(node, user, **kw):
        return await (await Client.connect(node, user)).join("rec", **kw)

    ack = await join_on(b, "bob", since=2, epoch=epoch)
    assert ack["recovered"] is True and ack["epoch"] == epoch and ack["seq"] == 5, ack
    assert [(m["seq"], m["message"]) for m in ack["history"]] == [(3, "m3"), (4, "m4"), (5, "m5")], ack
    assert ack["more"] is False, ack

    ack = await join_on(c, "carol", since=5, epoch=epoch)
    assert ack["recovered"] is True and ack["history"] == [], ack

    ack = await join_on(c, "dave", since=0, epoch=epoch)
    assert ack["recovered"] is True and [m["seq"] for m in ack["history"]] == [1, 2, 3, 4, 5], ack

    # an epoch the room never had: old seqs mean nothing
    ack = await join_on(b, "erin", since=3, epoch="not-this-rooms-epoch")
    assert ack["recovered"] is False and ack["epoch"] == epoch, ack

    # a v1 client passes no epoch: nothing is missing after since=2
    ack = await join_on(a, "frank", since=2)
    assert ack["recovered"] is True and [m["seq"] for m in ack["history"]] == [3, 4, 5], ack


async def test_paged_history_across_nodes(cluster):
    a, b, c = cluster.nodes
    senders = []
    for node, user in ((a, "pa"), (b, "pb")):
        client = await Client.connect(node, user)
        await client.join("pages")
        senders.append(Sender(client, "pages", user, window=8))
    await asyncio.gather(*(s.run(count=60) for s in senders))
    acked = {**senders[0].acked, **senders[1].acked}
    assert sorted(acked) == list(range(1, 121)), sorted(acked)

    reader = await Client.connect(c, "reader")  # not a member: history needs no membership

    async def page(**kw):
        p = await reader.history("pages", **kw)
        return [m["seq"] for m in p["messages"]], p["more"]

    assert await page(since=0) == (list(range(1, 51)), True)
    assert await page(since=50, limit=50) == (list(range(51, 101)), True)
    assert await page(since=100) == (list(range(101, 121)), False)
    assert await page(since=120) == ([], False)
    assert await page(before=121, limit=50) == (list(range(71, 121)), True)
    assert await page(before=71, limit=50) == (list(range(21, 71)), True)
    assert await page(before=21, limit=50) == (list(range(1, 21)), False)
    assert await page(before=1) == ([], False)
    assert await page(since=10, limit=1) == ([11], True)
    assert await page(before=11, limit=100) == (list(range(1, 11)), False)

    epoch, everything = await read_whole_room(reader, "pages")
    assert_gapless(everything, what="history pages")
    assert {m["seq"]: m["message"] for m in everything} == acked

    # the join's recovery is bounded in bytes; with `more` the rest comes through `history`
    member = await Client.connect(a, "member")
    ack = await member.join("pages", since=0, epoch=epoch)
    assert ack["recovered"] is True and ack["seq"] == 120, {k: v for k, v in ack.items() if k != "history"}
    got = ack["history"]
    assert_gapless(got, what="join recovery")
    if ack["more"]:
        _, rest = await read_whole_room(member, "pages", since=got[-1]["seq"] if got else 0)
        got += rest
    assert [m["seq"] for m in got] == list(range(1, 121))

    for bad in ({"limit": 0}, {"limit": 101}, {"since": 0, "limit": "ten"}):
        with pytest.raises(ProtocolError) as refused:
            await reader.call("history", {"room": "pages", **bad})
        assert refused.value.code == "bad_payload", bad


async def test_room_retention_across_nodes(cluster_factory):
    cluster = cluster_factory(3, extra_args=["--room-retention", "10"])
    a, b, c = cluster.nodes
    alice = await Client.connect(a, "alice")
    epoch = (await alice.join("kept"))["epoch"]
    for i in range(25):
        await alice.send("kept", f"m{i + 1}")
    reader = await Client.connect(b, "reader")
    _, kept = await read_whole_room(reader, "kept")
    assert [m["seq"] for m in kept] == list(range(16, 26)), [m["seq"] for m in kept]
    page = await reader.history("kept", before=20, limit=100)
    assert [m["seq"] for m in page["messages"]] == [16, 17, 18, 19] and page["more"] is False, page

    # messages 3..15 are gone: a resume from 2 cannot be whole
    ack = await (await Client.connect(c, "carol")).join("kept", since=2, epoch=epoch)
    assert ack["recovered"] is False and ack["epoch"] == epoch, ack
    # from 15 on, nothing is missing
    ack = await (await Client.connect(c, "dave")).join("kept", since=15, epoch=epoch)
    assert ack["recovered"] is True and [m["seq"] for m in ack["history"]] == list(range(16, 26)), ack


async def test_errors_on_every_node(cluster):
    async def errors_on(node, user):
        client = await Client.connect(node, user)

        async def refused(type_, payload):
            with pytest.raises(ProtocolError) as e:
                await client.call(type_, payload)
            return e.value.code

        assert await refused("send_message", {"room": "err", "message": "hi"}) == "not_in_room"
        assert await refused("leave_room", {"room": "err"}) == "not_in_room"
        assert await refused("join_room", {"room": "no spaces!"}) == "bad_payload"
        assert await refused("no_such_event", {}) == "unknown_event"
        await client.join("err")
        assert await refused("send_message", {"room": "err", "message": ""}) == "bad_payload"
        assert await refused("send_message", {"room": "err", "message": "x" * 4097}) == "bad_payload"
        assert await refused("send_message", {"room": "err", "message": "k",
                                               "idempotency_key": "not a key!"}) == "bad_payload"
        assert await refused("history", {"room": "err", "limit": 0}) == "bad_payload"

        # events without an id get their error without one
        await client.send_raw("{not json")
        await client.wait_event("error", code="bad_json")
        await client.send_raw('{"payload": {}}')
        await client.wait_event("error", code="bad_event")
        await client.send_raw(b"\x00binary")
        await client.wait_event("error", code="bad_event", count=2)

        # none of that closed the connection
        assert await client.send("err", "x" * 4096) >= 1
        assert not client.closed.is_set()

    await asyncio.gather(*(errors_on(n, f"err{i}") for i, n in enumerate(cluster.nodes)))


async def test_ticket_is_redeemable_once_on_any_node(cluster):
    a, b, c = cluster.nodes
    ticket = await login(a, "alice")
    assert await upgrade_status(b, ticket) == 101
    assert await upgrade_status(c, ticket) == 401
    assert await upgrade_status(a, ticket) == 401

    # redeemed where it was issued: then nowhere else
    ticket = await login(b, "bob")
    assert await upgrade_status(b, ticket) == 101
    assert await upgrade_status(a, ticket) == 401

    # raced on three nodes at once: exactly one upgrade
    for _ in range(3):
        ticket = await login(c, "carol")
        statuses = await asyncio.gather(*(upgrade_status(n, ticket) for n in cluster.nodes))
        assert sorted(statuses) == [101, 401, 401], statuses

    for node in cluster.nodes:
        assert await upgrade_status(node, "0" * 32) == 401
        assert await upgrade_status(node, None) == 401

    # the identity travels with the ticket
    dora = await Client.connect(b, "dora", ticket=await login(a, "dora"))
    assert (await dora.join("id"))["members"] == ["dora"]
    await dora.send("id", "me")
    [message] = await dora.wait_messages("id", 1)
    assert message["from"] == "dora"


async def test_idempotency_key_across_nodes(cluster):
    a, b, c = cluster.nodes
    alice_a, alice_b, bob = await connect_all([(a, "alice"), (b, "alice"), (c, "bob")])
    for m in (alice_a, alice_b, bob):
        await m.join("idem")

    first = await alice_a.send("idem", "once", idempotency_key="k-1")
    assert first == 1
    # the same user resending through another node: the original ack, nothing delivered
    assert await alice_b.send("idem", "once", idempotency_key="k-1") == first
    assert await alice_a.send("idem", "once", idempotency_key="k-1") == first
    # the key is the user's: bob's k-1 is another message
    assert await bob.send("idem", "bob's", idempotency_key="k-1") == 2
    assert await alice_b.send("idem", "twice", idempotency_key="k-2") == 3

    for m in (alice_a, alice_b, bob):
        await m.wait_messages("idem", 3)
    await asyncio.sleep(SETTLE)
    for m in (alice_a, alice_b, bob):
        got = [(x["seq"], x["from"], x["message"]) for x in m.messages("idem")]
        assert got == [(1, "alice", "once"), (2, "bob", "bob's"), (3, "alice", "twice")], (m, got)
    _, stored = await read_whole_room(bob, "idem")
    assert [x["seq"] for x in stored] == [1, 2, 3]


async def test_large_messages_cross_nodes(cluster):
    a, b, c = cluster.nodes
    members = await connect_all([(a, "big-a"), (b, "big-b"), (c, "big-c")])
    for m in members:
        await m.join("big")
    huge = "😀" * 4096  # 4,096 characters, 16 KiB of UTF-8: over NOTIFY's 8000-byte payload
    bodies = []
    for i in range(12):
        sender = members[i % 3]
        body = huge if i % 2 == 0 else f"small {i}"
        assert await sender.send("big", body) == i + 1
        bodies.append(body)
    for m in members:
        got = await m.wait_messages("big", 12, timeout=10)
        assert [x["seq"] for x in got] == list(range(1, 13)), m
        assert [x["message"] for x in got] == bodies, f"{m}: a body differs"
    _, stored = await read_whole_room(members[2], "big")
    assert [x["message"] for x in stored] == bodies

    late = await Client.connect(b, "late")
    ack = await late.join("big", since=0, epoch=(await late.history("big", since=12))["epoch"])
    got = ack["history"]
    if ack["more"]:
        _, rest = await read_whole_room(late, "big", since=got[-1]["seq"] if got else 0)
        got += rest
    assert [x["message"] for x in got] == bodies


async def test_member_who_just_joined_hears_of_the_next_joins(cluster):
    """Joins right after a join, on every node: the first member's view (ack members, then
    user_joined) must take in every one of them, and each joiner's view must hold the rest.
    Twenty fresh rooms, because a lost announcement shows at the start of a room's life."""
    a, b, c = cluster.nodes
    zero, first = await Client.connect(a, "zero"), await Client.connect(b, "first")
    others = await connect_all([(a, "x"), (b, "y"), (c, "z")])
    for i in range(20):
        room = f"fresh-{i}"
        # odd rounds: the room already has a member on another node when `first` joins
        if i % 2:
            await zero.join(room)
        await first.join(room)
        await asyncio.gather(*(o.join(room) for o in others))
        everyone = ["first", "x", "y", "z"] + (["zero"] if i % 2 else [])
        await first.wait_members(room, everyone, timeout=POLL_AND_SLACK)
        for o in others:
            await o.wait_members(room, everyone, timeout=POLL_AND_SLACK)
