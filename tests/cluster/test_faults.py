"""Faults injected for real while clients talk to three nodes: the database stopped or
killed and brought back, the listener connection terminated, a node killed with -9 or
restarted, the database wiped. What must hold: no ack for an unstored message, every
acknowledged message reaches every member (live, or by resuming with since+epoch), members
of a dead node leave once, everywhere."""
from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from conftest import NODE_TIMEOUT, POLL_INTERVAL
from harness import (Client, RoomFollower, Sender, assert_gapless, http, login,
                     read_whole_room, start_together, upgrade_status)

# Slack for a debug build on two busy cores, on top of each bound the server promises.
SLACK = 1.0
SETTLE = POLL_INTERVAL + 0.5


@pytest.fixture
def cluster(cluster_factory):
    """Three nodes that keep every message of these tests (traffic runs for seconds at a few
    hundred messages a second, past the default retention of 1000): "every acked message is
    stored" is then checked against the whole stream."""
    return cluster_factory(3, extra_args=["--room-retention", "100000"])


def check_acked_are_stored(senders: list[Sender], stored: list[dict]) -> None:
    """No ack for an unstored message: each acked seq holds the body and sender it was acked for."""
    by_seq = {m["seq"]: m for m in stored}
    seen: dict[int, str] = {}
    for s in senders:
        for seq, body in s.acked.items():
            assert seq not in seen, f"seq {seq} acked to {s.tag} and {seen[seq]}"
            seen[seq] = s.tag
            assert seq in by_seq, f"{s.tag}: acked seq {seq} ({body}) is not in the history"
            assert (by_seq[seq]["message"], by_seq[seq]["from"]) == (body, s.client.user), \
                f"acked seq {seq} was {body} from {s.client.user}, stored {by_seq[seq]}"


async def check_followers(followers: list[RoomFollower], stored: list[dict], timeout: float = 15) -> None:
    """Every follower ends with the whole stored stream, in order, each message as stored."""
    last = stored[-1]["seq"] if stored else 0
    for f in followers:
        await f.wait_for_seq(last, timeout)
        assert f.problems == [], f"follower {f.user}: {f.problems[:5]}"
        for m in stored:
            got = f.received.get(m["seq"])
            assert got is not None and (got["message"], got["from"]) == (m["message"], m["from"]), \
                f"follower {f.user} at seq {m['seq']}: {got} vs stored {m}"


async def joined_sender(node, user, room, **kw) -> Sender:
    client = await Client.connect(node, user)
    await client.join(room)
    return Sender(client, room, user, **kw)


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_postgres_down_and_back_under_load(cluster, how):
    """`stop` is a clean shutdown (sessions ended), `kill` an immediate one (a crash: no
    checkpoint, recovery at the next start)."""
    room = "outage"
    nodes = cluster.nodes
    followers = [await RoomFollower(f"follow-{n.name}", room, nodes, n).start() for n in nodes]
    senders = [await joined_sender(n, f"send-{n.name}", room, window=2, reply_timeout=15)
               for n in nodes]
    probe = await Client.connect(nodes[1], "probe")
    epoch = (await probe.join(room))["epoch"]
    # one connection per refused event: a connection's events are handled one after another,
    # and each waits up to --postgres-timeout (5 s) before it is answered unavailable
    prober_a, prober_c = await Client.connect(nodes[0], "prober"), await Client.connect(nodes[2], "prober")
    spare_ticket = await login(nodes[2], "spare")  # for /ws while the database is down

    stop = asyncio.Event()
    traffic = [asyncio.create_task(s.run(stop=stop, pause=0.03)) for s in senders]
    await asyncio.sleep(1.5)
    acked_before = sum(len(s.acked) for s in senders)
    assert acked_before > 0, "no traffic before the outage"

    await asyncio.to_thread(cluster.postgres.stop if how == "stop" else cluster.postgres.kill)
    try:
        # every node notices; what needs the database is refused, connections stay open
        await asyncio.gather(*(n.await_health(503, timeout=10) for n in nodes))
        # all at once: each is answered within --postgres-timeout (5 s)
        *refusals, (login_status, _) = await asyncio.gather(
            probe.request("send_message", {"room": room, "message": "in the dark"}, timeout=10),
            prober_a.request("join_room", {"room": "elsewhere"}, timeout=10),
            prober_c.request("history", {"room": room, "since": 0}, timeout=10),
            # tickets live in the database: none can be issued now
            asyncio.to_thread(http, "POST", nodes[0].http_url + "/login",
                              {"username": "latecomer", "password": "pw"}, 10))
        for reply in refusals:
            assert reply["type"] == "error" and reply["payload"]["code"] == "unavailable", reply
        assert login_status == 503, login_status
        assert await upgrade_status(nodes[2], spare_ticket) == 503
        await asyncio.sleep(1.0)
    finally:
        await asyncio.to_thread(cluster.postgres.start)
    await asyncio.gather(*(n.await_health(200, timeout=30) for n in nodes))

    # traffic resumes on the same connections
    resumed_at = sum(len(s.acked) for s in senders)
    deadline = time.monotonic() + 10
    while sum(len(s.acked) for s in senders) < resumed_at + 30:
        assert time.monotonic() < deadline, "acks did not resume after the database came back"
        await asyncio.sleep(0.1)
    assert await probe.send(room, "after the dark", timeout=10) > 0
    stop.set()
    await asyncio.gather(*traffic)

    for s in senders:
        assert s.unanswered == [] and s.timed_out == [], \
            f"{s.tag}: requests without a reply {(s.unanswered + s.timed_out)[:3]}"
        assert not s.client.closed.is_set(), f"{s.tag}'s connection was closed ({s.client.close_code})"
        assert {code for _, code in s.refused} <= {"unavailable"}, s.refused[:5]
    assert any(s.refused for s in senders), "no send was refused: the outage was not noticed"

    page_epoch, stored = await read_whole_room(probe, room)
    assert page_epoch == epoch, "the room's epoch changed although no data was lost"
    assert_gapless(stored, what="stored stream")
    check_acked_are_stored(senders, stored)
    await check_followers(followers, stored)
    for f in followers:
        assert f.reconnects == [], f"{f.user} was disconnected: connections must stay open"
    # a resume with since+epoch after the outage is whole
    late = await Client.connect(nodes[0], "late")
    ack = await late.join(room, since=1, epoch=epoch)
    assert ack["recovered"] is True and ack["epoch"] == epoch, ack
    for f in followers:
        await f.stop()


async def test_database_outage_longer_than_node_timeout_makes_nobody_leave(cluster):
    """Every member stays connected through the outage, so nobody leaves: when the database
    comes back, the nodes must not take each other's stale heartbeats (nobody could write one)
    for deaths."""
    members = [await Client.connect(n, f"stay-{n.name}") for n in cluster.nodes]
    for m in members:
        await m.join("steady")
    for m in members:
        await m.wait_members("steady", [x.user for x in members])
    await asyncio.to_thread(cluster.postgres.stop)
    try:
        await asyncio.gather(*(n.await_health(503, timeout=10) for n in cluster.nodes))
        await asyncio.sleep(NODE_TIMEOUT + 1)
    finally:
        await asyncio.to_thread(cluster.postgres.start)
    await asyncio.gather(*(n.await_health(200, timeout=30) for n in cluster.nodes))
    await asyncio.sleep(NODE_TIMEOUT / 3 + SETTLE)  # a heartbeat round and a sweep after it
    for m in members:
        assert m.find("user_left", "steady") == [], f"{m} was told connected members left: " \
            f"{m.find('user_left', 'steady')}"
        assert not m.closed.is_set()
    census = await Client.connect(cluster.nodes[0], "census")
    await census.join("steady")
    await census.wait_members("steady", [x.user for x in members] + ["census"])


async def test_listener_connection_terminated_delivery_resumes_within_poll_bound(cluster):
    room = "listen"
    nodes = cluster.nodes
    members = [await Client.connect(n, f"m-{n.name}") for n in nodes]
    for m in members:
        await m.join(room)
    await members[0].send(room, "warm-up")
    for m in members:
        await m.wait_messages(room, 1)

    listeners = await cluster.asql("SELECT pid FROM pg_stat_activity WHERE "
                                   "application_name = 'switchboard-listener' AND datname = current_database()")
    assert len(listeners) == len(nodes), f"expected one listener session per node, got {listeners}"
    ended = await cluster.asql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                               "application_name = 'switchboard-listener' AND datname = current_database()")
    assert ended and all(r == ["t"] for r in ended), ended

    # right away, messages from every node: each reaches every member within the poll bound
    acked_at: dict[int, float] = {}
    for i in range(12):
        seq = await members[i % 3].send(room, f"after {i}")
        acked_at[seq] = time.monotonic()
        await asyncio.sleep(0.1)
    last = max(acked_at)
    for m in members:
        got = await m.wait_messages(room, last, timeout=POLL_INTERVAL + 5)
        assert_gapless(got, what=f"delivery to {m}")
        for message in got[1:]:
            delay = m.arrival(room, message["seq"]) - acked_at[message["seq"]]
            assert delay <= POLL_INTERVAL + SLACK, \
                f"{m}: seq {message['seq']} arrived {delay:.2f} s after its ack"

    # the nodes listen again (new sessions), and notifications carry delivery again
    deadline = time.monotonic() + 10
    while True:
        now = {r[0] for r in await cluster.asql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'switchboard-listener' "
            "AND datname = current_database()")}
        if len(now) == len(nodes) and not now & {r[0] for r in listeners}:
            break
        assert time.monotonic() < deadline, f"listener sessions not back within 10 s: {now}"
        await asyncio.sleep(0.2)
    seq = await members[2].send(room, "listening again")
    for m in members:
        await m.wait_messages(room, seq, timeout=POLL_INTERVAL + SLACK)


async def test_presence_news_while_listeners_reconnect_is_not_lost(cluster):
    """Joins and leaves announced while every node's listener is being re-established (the
    notifications of that moment never reach them) still reach every member: presence needs
    the same catch-up as messages."""
    a, b, c = cluster.nodes
    members = [await Client.connect(n, f"m-{n.name}") for n in (a, b, c)]
    for m in members:
        await m.join("news")
    for m in members:
        await m.wait_members("news", [x.user for x in members])
    for round_ in range(3):
        await cluster.asql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = 'switchboard-listener' AND datname = current_database()")
        newcomer = await Client.connect(cluster.nodes[round_], f"newcomer-{round_}")
        await newcomer.join("news")
        for m in members:
            await m.wait_event("user_joined", "news", user=newcomer.user, timeout=POLL_INTERVAL + 3)
        await newcomer.leave("news")
        for m in members:
            await m.wait_event("user_left", "news", user=newcomer.user, timeout=POLL_INTERVAL + 3)


async def test_every_database_session_terminated_nodes_recover(cluster):
    """The pool's sessions too, not only the listener: a request in flight may be refused
    (`unavailable`), never falsely acked, and service comes back by itself."""
    room = "cut"
    nodes = cluster.nodes
    followers = [await RoomFollower(f"follow-{n.name}", room, nodes, n).start() for n in nodes]
    senders = [await joined_sender(n, f"send-{n.name}", room, window=2, reply_timeout=15) for n in nodes]
    stop = asyncio.Event()
    traffic = [asyncio.create_task(s.run(stop=stop, pause=0.02)) for s in senders]
    await asyncio.sleep(1.0)
    for _ in range(2):
        await cluster.asql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name IN ('switchboard', 'switchboard-listener') "
                           "AND datname = current_database()")
        before = sum(len(s.acked) for s in senders)
        deadline = time.monotonic() + 10
        while sum(len(s.acked) for s in senders) < before + 20:
            assert time.monotonic() < deadline, "acks did not resume after the sessions were terminated"
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*traffic)
    for s in senders:
        assert s.unanswered == [] and s.timed_out == [], (s.tag, (s.unanswered + s.timed_out)[:3])
        assert {c for _, c in s.refused} <= {"unavailable"}, (s.tag, s.refused[:3])
    _, stored = await read_whole_room(senders[0].client, room)
    assert_gapless(stored, what="stored stream")
    check_acked_are_stored(senders, stored)
    await check_followers(followers, stored)
    for f in followers:
        await f.stop()


async def test_node_killed_mid_traffic(cluster):
    room = "crash"
    a, b, c = nodes = cluster.nodes
    # watchers first, so they hear everyone else join
    watchers = [await Client.connect(n, f"watch-{n.name}") for n in (a, b)]
    for w in watchers:
        await w.join(room)
    follow_a = await RoomFollower("follow-a", room, nodes, a).start()
    follow_b = await RoomFollower("follow-b", room, nodes, b).start()
    # z1 resumes on another node when C dies; z2 and send-c are simply gone with it
    follow_z1 = await RoomFollower("z1", room, nodes, c).start()
    z2 = await Client.connect(c, "z2")
    await z2.join(room)
    # w has a connection on B and on C: C dying does not make w leave
    w_b, w_c = await Client.connect(b, "w"), await Client.connect(c, "w")
    await w_b.join(room)
    await w_c.join(room)
    senders = [await joined_sender(n, f"send-{n.name}", room, window=2) for n in nodes]
    for watcher in watchers:
        for user in ("follow-a", "follow-b", "z1", "z2", "w", "send-node-c"):
            if user != watcher.user:
                await watcher.wait_event("user_joined", room, user=user)
    survivors = watchers + [w_b, follow_a.client, follow_b.client]

    stop = asyncio.Event()
    traffic = [asyncio.create_task(s.run(stop=stop, pause=0.02)) for s in senders]
    await asyncio.sleep(1.5)

    killed_at = time.monotonic()
    await asyncio.to_thread(c.kill9)
    await asyncio.wait_for(z2.closed.wait(), 5)
    assert z2.close_code == 1006, f"a killed node's client sees an abnormal closure, got {z2.close_code}"

    # its members leave, on every surviving node, within the node timeout
    # declared dead after the timeout, seen by the next sweep (a third of it later), announced
    bound = NODE_TIMEOUT * 4 / 3 + POLL_INTERVAL + 2 * SLACK
    for member in survivors:
        for user in ("z2", "send-node-c"):
            await member.wait_event("user_left", room, user=user,
                                    timeout=max(0.1, bound - (time.monotonic() - killed_at)))
    assert time.monotonic() - killed_at <= bound
    await asyncio.sleep(SETTLE + 1)
    stop.set()
    await asyncio.gather(*traffic)

    for member in survivors:
        for user in ("z2", "send-node-c"):
            assert len(member.find("user_left", room, user=user)) == 1, \
                f"{member}: user_left {user} not exactly once: {member.find('user_left', room)}"
        # w still has B; z1 resumed on another node before C's entries went
        assert member.find("user_left", room, user="w") == [], member
        assert member.find("user_left", room, user="z1") == [], member
    census = await Client.connect(b, "census")
    await census.join(room)
    await census.wait_members(room, ["census", "follow-a", "follow-b", "send-node-a", "send-node-b",
                                     "watch-node-a", "watch-node-b", "w", "z1"])

    # nothing acknowledged is lost, and every member reads the stream whole
    _, stored = await read_whole_room(watchers[0], room)
    assert_gapless(stored, what="stored stream")
    check_acked_are_stored(senders, stored)
    assert sum(len(s.acked) for s in senders[:2]) > 0
    await check_followers([follow_a, follow_b, follow_z1], stored)
    assert follow_a.reconnects == [] and follow_b.reconnects == []
    assert len(follow_z1.reconnects) == 1 and follow_z1.reconnects[0] in (a, b), follow_z1.reconnects
    for f in (follow_a, follow_b, follow_z1):
        await f.stop()


async def test_restarted_node_purges_its_previous_presence(cluster_factory):
    # a node timeout far above the test's waits: the purge must come from the restart
    cluster = cluster_factory(3, node_timeout=60)
    a, b, c = cluster.nodes
    watcher = await Client.connect(a, "watcher")
    await watcher.join("phoenix")
    ghost = await Client.connect(c, "ghost")
    await ghost.join("phoenix")
    await watcher.wait_event("user_joined", "phoenix", user="ghost")

    killed_at = time.monotonic()
    await cluster.arestart(c)  # -9, then the same --node-name on the same port
    await watcher.wait_event("user_left", "phoenix", user="ghost", timeout=POLL_INTERVAL + 5)
    assert time.monotonic() - killed_at < 20, "the old presence went by timeout, not at restart"
    census = await Client.connect(b, "census")
    assert "ghost" not in (await census.join("phoenix"))["members"]
    await census.wait_members("phoenix", ["census", "watcher"])

    # the restarted node serves the room again
    back = await Client.connect(c, "back")
    await back.join("phoenix")
    await watcher.wait_event("user_joined", "phoenix", user="back")
    seq = await back.send("phoenix", "I am new")
    [message] = await watcher.wait_messages("phoenix", 1)
    assert message["seq"] == seq and message["from"] == "back"
    await asyncio.sleep(SETTLE)
    assert len(watcher.find("user_left", "phoenix", user="ghost")) == 1, watcher.events


async def test_gracefully_stopped_node_leaves_the_cluster_before_its_pool_closes(cluster_factory):
    # a node timeout far above the test's waits: the row must go by deregistration
    cluster = cluster_factory(2, node_timeout=60)
    a, b = cluster.nodes
    assert sorted(r[0] for r in await cluster.asql("SELECT name FROM switchboard_nodes")) == ["node-a", "node-b"]
    watcher = await Client.connect(a, "watcher")
    await watcher.join("exit")
    leaver = await Client.connect(b, "leaver")
    await leaver.join("exit")
    await watcher.wait_event("user_joined", "exit", user="leaver")

    await asyncio.to_thread(b.stop, 10)  # SIGTERM: drain, leave the cluster, close the pool
    assert b.proc.returncode == 0, b.log_tail()
    # deregistered: not left for the others to purge after the node timeout
    assert [r[0] for r in await cluster.asql("SELECT name FROM switchboard_nodes")] == ["node-a"]
    assert await cluster.asql("SELECT username FROM switchboard_presence WHERE username = 'leaver'") == []
    log = b.log_path.read_text(errors="replace")
    assert "could not deregister" not in log and "database unreachable" not in log, b.log_tail()
    await watcher.wait_event("user_left", "exit", user="leaver", timeout=POLL_INTERVAL + 5)


async def test_wiped_database_gives_new_epochs(cluster):
    a, b, c = cluster.nodes
    alice = await Client.connect(a, "alice")
    old_epoch = (await alice.join("wiped"))["epoch"]
    for i in range(3):
        await alice.send("wiped", f"old {i}")
    await alice.close()

    await asyncio.to_thread(lambda: [n.stop(timeout=5) for n in cluster.nodes])
    await asyncio.to_thread(cluster.postgres.drop_database, cluster.database)
    await asyncio.to_thread(cluster.postgres.create_database, cluster.database)
    await asyncio.to_thread(start_together, cluster.nodes)  # the schema again, on an empty database

    bob = await Client.connect(b, "bob")
    ack = await bob.join("wiped", since=3, epoch=old_epoch)
    assert ack["recovered"] is False, ack
    assert ack["epoch"] != old_epoch and ack["seq"] == 0 and ack["history"] == [], ack
    assert await bob.send("wiped", "new 0") == 1
    carol = await Client.connect(c, "carol")
    ack2 = await carol.join("wiped", since=0, epoch=ack["epoch"])
    assert ack2["recovered"] is True and [m["message"] for m in ack2["history"]] == ["new 0"], ack2


async def test_restored_database_gives_new_epochs(cluster, test_artifacts):
    """Issue 12: "A restored or wiped database: rooms get new epochs, clients see
    `recovered: false`". Restored from a dump taken at seq 3 after seq 5 was acked: seqs 4 and
    5 will be handed out again for other messages, so a client's old (seq, epoch) must not
    look resumable."""
    a, b, c = cluster.nodes
    alice = await Client.connect(a, "alice")
    old_epoch = (await alice.join("restored"))["epoch"]
    for i in range(3):
        await alice.send("restored", f"before the dump {i}")
    dump = test_artifacts / "backup.dump"
    await asyncio.to_thread(subprocess.run, ["pg_dump", "-Fc", "-d", cluster.url, "-f", str(dump)], check=True)
    for i in range(2):
        await alice.send("restored", f"after the dump {i}")
    await alice.close()

    await asyncio.to_thread(lambda: [n.stop(timeout=5) for n in cluster.nodes])
    await asyncio.to_thread(cluster.postgres.drop_database, cluster.database)
    await asyncio.to_thread(cluster.postgres.create_database, cluster.database)
    await asyncio.to_thread(subprocess.run, ["pg_restore", "-d", cluster.url, str(dump)], check=True)
    await asyncio.to_thread(start_together, cluster.nodes)

    bob = await Client.connect(b, "bob")
    ack = await bob.join("restored", since=5, epoch=old_epoch)
    assert ack["recovered"] is False and ack["epoch"] != old_epoch, \
        {k: v for k, v in ack.items() if k != "history"}


async def test_schema_and_sessions_when_nodes_start_together(cluster):
    """The fixture started three nodes at once on an empty database (schema creation must be
    safe when they race); each holds one listener session and names its others 'switchboard'.
    A fourth node configured through SWITCHBOARD_POSTGRES_URL joins the same cluster."""
    sessions = await cluster.asql("SELECT application_name, count(*) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                  "GROUP BY 1 ORDER BY 1")
    names = dict((name, int(n)) for name, n in sessions)
    assert names.get("switchboard-listener") == 3, sessions
    assert set(names) <= {"switchboard", "switchboard-listener"}, sessions

    d = cluster.new_node("node-d", url_from_env=True)
    await asyncio.to_thread(lambda: (d.start(), d.wait_healthy()))
    alice = await Client.connect(cluster.nodes[0], "alice")
    await alice.join("shared")
    await alice.send("shared", "from a")
    dave = await Client.connect(d, "dave")
    ack = await dave.join("shared")
    assert [m["message"] for m in ack["history"]] == ["from a"], ack
    await dave.wait_members("shared", ["alice", "dave"])
    await alice.wait_event("user_joined", "shared", user="dave")
    listeners = await cluster.asql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND application_name = 'switchboard-listener'")
    assert listeners == [["4"]], listeners
