"""The parts of the multi-node tests: a private PostgreSQL (scripts/postgres.sh), switchboard
nodes as real processes, and protocol clients over real WebSockets on loopback.

Nothing here is a stand-in: the database is a real PostgreSQL 15, every node is the built
`switchboard serve`, every client speaks PROTOCOL.md v1.1 over a real socket.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_SH = REPO_ROOT / "scripts" / "postgres.sh"

# Short on purpose: loopback answers in milliseconds, and the suite has a wall-time budget.
REPLY_TIMEOUT = float(os.environ.get("CLUSTER_REPLY_TIMEOUT", "5"))
EVENT_TIMEOUT = float(os.environ.get("CLUSTER_EVENT_TIMEOUT", "5"))
STARTUP_TIMEOUT = float(os.environ.get("CLUSTER_STARTUP_TIMEOUT", "30"))
LOG_LEVEL = os.environ.get("CLUSTER_LOG_LEVEL", "warning")  # the nodes' --log-level (info to debug a failure)

SENT_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """One private PostgreSQL instance in `folder`, driven through scripts/postgres.sh."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _script(self, command: str) -> str:
        done = subprocess.run([str(POSTGRES_SH), command, str(self.folder)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"postgres.sh {command} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self) -> str:
        return self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def kill(self) -> None:
        """Immediate shutdown: what a crash of the database server looks like."""
        self._script("kill")

    def destroy(self) -> None:
        self._script("destroy")

    def is_up(self) -> bool:
        return subprocess.run([str(POSTGRES_SH), "status", str(self.folder)],
                              capture_output=True).returncode == 0

    @property
    def url(self) -> str:
        return (self.folder / "url").read_text().strip()

    def url_for(self, database: str) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + database))

    def sql(self, query: str, database: str = "postgres") -> list[list[str]]:
        """Runs one statement as the superuser; rows of text fields."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
             "-d", self.url_for(database), "-c", query],
            capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed on {query!r}: {done.stderr.strip()}")
        return [line.split("\x1f") for line in done.stdout.splitlines() if line]

    async def asql(self, query: str, database: str = "postgres") -> list[list[str]]:
        return await asyncio.to_thread(self.sql, query, database)

    def create_database(self, name: str) -> None:
        self.sql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        # FORCE ends the sessions of nodes that are still connected (PostgreSQL 13+)
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sessions(self, database: str, application_name: str) -> list[int]:
        rows = self.sql("SELECT pid FROM pg_stat_activity "
                        f"WHERE datname = '{database}' AND application_name = '{application_name}'")
        return [int(r[0]) for r in rows]


# --------------------------------------------------------------------------- nodes

class Node:
    """One `switchboard serve` process on a fixed port; can be killed and started again
    (same port, same --node-name), which is what a restarted node is."""

    def __init__(self, binary: str, name: str, logs: Path, postgres_url: str | None,
                 extra_args: Iterable[str] = (), url_from_env: bool = False):
        self.binary = binary
        self.name = name
        self.logs = logs
        self.postgres_url = postgres_url
        self.extra_args = list(extra_args)
        self.url_from_env = url_from_env
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def __repr__(self) -> str:
        return f"Node({self.name}:{self.port})"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--log-level", LOG_LEVEL, "--drain-timeout", "1"]
        if self.postgres_url is not None:
            if not self.url_from_env:
                cmd += ["--postgres", self.postgres_url]
            cmd += ["--node-name", self.name]
        return cmd + self.extra_args

    def start(self) -> None:
        """Starts the process without waiting for it (nodes of a cluster start together)."""
        assert not self.alive, f"{self} is already running"
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{self.name}-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        if self.url_from_env and self.postgres_url is not None:
            env["SWITCHBOARD_POSTGRES_URL"] = self.postgres_url
        cmd = self.command()
        with open(log_path, "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.log_path = log_path

    def health(self) -> int | None:
        try:
            with urllib.request.urlopen(self.http_url + "/healthz", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, ValueError):
            return None

    async def ahealth(self) -> int | None:
        return await asyncio.to_thread(self.health)

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self} exited with {self.proc.returncode} before /healthz "
                                   f"answered 200; log {self.log_path}:\n{self.log_tail()}")
            if self.health() == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self}: /healthz not 200 within {timeout:.0f} s; log {self.log_path}:\n"
                           f"{self.log_tail()}")

    async def await_health(self, status: int, timeout: float) -> float:
        """Seconds until /healthz answers `status`; raises AssertionError after `timeout`."""
        started = time.monotonic()
        while True:
            if await self.ahealth() == status:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self}: /healthz not {status} within {timeout} s "
                                     f"(last {await self.ahealth()})")
            await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill9(self) -> None:
        """SIGKILL: no drain, no goodbye to the database; its presence rows stay behind."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM (graceful drain), SIGKILL if that takes longer than `timeout`."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its own session
        except (ProcessLookupError, PermissionError):
            pass


def start_together(nodes: Iterable[Node]) -> None:
    """Starts the processes at once (schema creation must be safe when nodes race), then
    waits for every /healthz."""
    nodes = list(nodes)
    for n in nodes:
        n.start()
    for n in nodes:
        n.wait_healthy()


# --------------------------------------------------------------------------- HTTP

def http(method: str, url: str, body: Any = None, timeout: float = 5) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


async def login(node: Node, user: str, password: str = "pw") -> str:
    status, body = await asyncio.to_thread(http, "POST", node.http_url + "/login",
                                           {"username": user, "password": password})
    if status != 200:
        raise AssertionError(f"login of {user} at {node} answered {status}: {body}")
    assert body["user"] == user
    return body["ticket"]


async def upgrade_status(node: Node, ticket: str | None) -> int:
    """The status /ws answers for this ticket: 101 (then closed at once), 401, 503, …"""
    query = "" if ticket is None else "?ticket=" + urllib.parse.quote(ticket)
    try:
        async with ws_connect(node.ws_url + query, open_timeout=5, compression=None,
                              ping_interval=None, close_timeout=1):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


# --------------------------------------------------------------------------- clients

class ProtocolError(Exception):
    """An `error` reply: .code is the protocol's error code."""

    def __init__(self, code: str, message: str, event: str):
        super().__init__(f"{event} → error {code}: {message}")
        self.code = code


_open_clients: list["Client"] = []


async def close_open_clients() -> None:
    """Closes every client a test opened (the test runner calls it after each test)."""
    clients, _open_clients[:] = list(_open_clients), []
    await close_all(clients)


class Client:
    """One WebSocket connection of one user to one node.

    Replies (events carrying our `id`) resolve the request that sent them; everything else
    is appended to `events`, each with the monotonic time it arrived under "_received".
    """

    _ids = itertools.count(1)

    def __init__(self, node: Node, user: str):
        self.node = node
        self.user = user
        self.events: list[dict] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._changed = asyncio.Condition()
        self._pending: dict[int, asyncio.Future] = {}
        self._ws = None
        self._reader: asyncio.Task | None = None
        # per room: the join ack's members and how many events had arrived before it
        self._joined: dict[str, tuple[list[str], int]] = {}

    def __repr__(self) -> str:
        return f"Client({self.user}@{self.node.name})"

    @classmethod
    async def connect(cls, node: Node, user: str, ticket: str | None = None,
                      open_timeout: float = 5) -> "Client":
        client = cls(node, user)
        if ticket is None:
            ticket = await login(node, user)
        client._ws = await ws_connect(f"{node.ws_url}?ticket={urllib.parse.quote(ticket)}",
                                      open_timeout=open_timeout, compression=None,
                                      ping_interval=None, close_timeout=1, max_size=2 ** 24)
        client._reader = asyncio.create_task(client._read(), name=f"reader {client}")
        _open_clients.append(client)
        return client

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                event = json.loads(raw)
                reply_to = event.get("id")
                future = self._pending.pop(reply_to, None) if isinstance(reply_to, int) else None
                if future is not None:
                    if not future.done():
                        event["_events_before"] = len(self.events)
                        future.set_result(event)
                    continue
                event["_received"] = time.monotonic()
                async with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except Exception:  # a dropped TCP connection ends the iteration with an error
            pass
        finally:
            self.close_code = self._ws.close_code
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self} closed ({self.close_code})"))
            self._pending.clear()
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    # -- requests

    async def request(self, type_: str, payload: dict | None = None,
                      timeout: float = REPLY_TIMEOUT) -> dict:
        """Sends one event with an id and returns its one reply (ack or error envelope)."""
        if self.closed.is_set():
            raise ConnectionError(f"{self} is closed ({self.close_code})")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        envelope = {"type": type_, "id": request_id}
        if payload is not None:
            envelope["payload"] = payload
        await self._ws.send(json.dumps(envelope, ensure_ascii=False))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._pending.pop(request_id, None)
            raise AssertionError(f"{self}: no reply to {type_} {payload!r:.200} within {timeout} s")

    async def call(self, type_: str, payload: dict | None = None,
                   timeout: float = REPLY_TIMEOUT) -> dict:
        """The ack's payload, or ProtocolError for an error reply."""
        return self._payload_of(await self.request(type_, payload, timeout), type_)

    def _payload_of(self, reply: dict, type_: str) -> dict:
        if reply["type"] == "error":
            p = reply.get("payload", {})
            raise ProtocolError(p.get("code"), p.get("message", ""), type_)
        assert reply["type"] == "ack", f"{self}: reply to {type_} is {reply}"
        return reply.get("payload", {})

    async def join(self, room: str, since: int | None = None, epoch: str | None = None,
                   timeout: float = REPLY_TIMEOUT) -> dict:
        payload: dict = {"room": room}
        if since is not None:
            payload["since"] = since
        if epoch is not None:
            payload["epoch"] = epoch
        reply = await self.request("join_room", payload, timeout)
        ack = self._payload_of(reply, "join_room")
        self._joined[room] = (ack["members"], reply["_events_before"])
        return ack

    def members_view(self, room: str) -> set[str]:
        """The room's members as this client knows them: its join ack's `members`, then the
        `user_joined`/`user_left` that came after the ack. In a cluster presence travels
        between nodes after the join that caused it is acknowledged, so an ack may miss a
        join acked on another node a moment before; the events that follow make up for it."""
        members, position = self._joined[room]
        view = set(members)
        for e in self.events[position:]:
            p = e.get("payload", {})
            if p.get("room") == room and e.get("type") == "user_joined":
                view.add(p["user"])
            elif p.get("room") == room and e.get("type") == "user_left":
                view.discard(p["user"])
        return view

    async def wait_members(self, room: str, expected: Iterable[str],
                           timeout: float = EVENT_TIMEOUT) -> None:
        expected = set(expected)
        await self.wait_until(lambda: self.members_view(room) == expected, timeout,
                              f"members of {room} = {sorted(expected)} (now {sorted(self.members_view(room))})")

    async def leave(self, room: str) -> dict:
        return await self.call("leave_room", {"room": room})

    async def send(self, room: str, message: str, idempotency_key: str | None = None,
                   timeout: float = REPLY_TIMEOUT) -> int:
        payload = {"room": room, "message": message}
        if idempotency_key is not None:
            payload["idempotency_key"] = idempotency_key
        ack = await self.call("send_message", payload, timeout)
        assert ack["room"] == room, ack
        return ack["seq"]

    async def history(self, room: str, since: int | None = None, before: int | None = None,
                      limit: int | None = None, timeout: float = REPLY_TIMEOUT) -> dict:
        payload: dict = {"room": room}
        for key, value in (("since", since), ("before", before), ("limit", limit)):
            if value is not None:
                payload[key] = value
        return await self.call("history", payload, timeout)

    async def send_raw(self, text: str | bytes) -> None:
        await self._ws.send(text)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader

    # -- unsolicited events

    def find(self, type_: str, room: str | None = None, **fields) -> list[dict]:
        """Payloads of the received events of this type (and room, and field values)."""
        out = []
        for e in self.events:
            p = e.get("payload", {})
            if e.get("type") == type_ and (room is None or p.get("room") == room) and \
                    all(p.get(k) == v for k, v in fields.items()):
                out.append(p)
        return out

    def messages(self, room: str) -> list[dict]:
        return self.find("new_message", room)

    def arrival(self, room: str, seq: int) -> float:
        """When new_message `seq` of `room` arrived (time.monotonic())."""
        for e in self.events:
            p = e.get("payload", {})
            if e.get("type") == "new_message" and p.get("room") == room and p.get("seq") == seq:
                return e["_received"]
        raise KeyError(f"{self}: no new_message {seq} in {room}")

    async def wait_until(self, condition: Callable[[], Any], timeout: float = EVENT_TIMEOUT,
                         what: str = "condition") -> Any:
        """Waits until condition() is truthy, re-checked on every event and on close."""
        async def satisfied():
            async with self._changed:
                while not (result := condition()):
                    await self._changed.wait()
                return result
        try:
            return await asyncio.wait_for(satisfied(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self}: {what} not seen within {timeout} s; events: "
                                 f"{summarize(self.events)}") from None

    async def wait_event(self, type_: str, room: str | None = None,
                         timeout: float = EVENT_TIMEOUT, count: int = 1, **fields) -> list[dict]:
        return await self.wait_until(
            lambda: (found := self.find(type_, room, **fields)) and len(found) >= count and found,
            timeout, f"{count} × {type_} {room or ''} {fields or ''}")

    async def wait_messages(self, room: str, count: int, timeout: float = EVENT_TIMEOUT) -> list[dict]:
        return await self.wait_until(
            lambda: len(self.messages(room)) >= count and self.messages(room),
            timeout, f"{count} messages in {room}")


def summarize(events: list[dict], limit: int = 12) -> str:
    shown = [f"{e.get('type')}:{json.dumps(e.get('payload'), ensure_ascii=False)[:80]}" for e in events[-limit:]]
    return f"{len(events)} events, last: " + "; ".join(shown)


async def close_all(clients: Iterable[Client]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def read_whole_room(client: Client, room: str, since: int = 0) -> tuple[str, list[dict]]:
    """(epoch, every retained message with seq > since), paging `history` forward."""
    messages: list[dict] = []
    epoch = None
    while True:
        page = await client.history(room, since=since, limit=100)
        assert epoch in (None, page["epoch"]), f"epoch changed while paging: {epoch} → {page['epoch']}"
        epoch = page["epoch"]
        messages += page["messages"]
        if not page["messages"]:
            assert not page["more"], page
            return epoch, messages
        since = page["messages"][-1]["seq"]
        if not page["more"]:
            return epoch, messages


def assert_gapless(messages: list[dict], first: int = 1, what: str = "messages") -> None:
    seqs = [m["seq"] for m in messages]
    expected = list(range(first, first + len(seqs)))
    if seqs != expected:
        raise AssertionError(f"{what}: seqs are not {first}..{first + len(seqs) - 1} in order; "
                             f"first difference at index "
                             f"{next(i for i, (a, b) in enumerate(zip(seqs, expected)) if a != b)}: "
                             f"{seqs[:5]}…{seqs[-5:]}")


# --------------------------------------------------------------------------- traffic

class Sender:
    """Sends numbered messages into a room with up to `window` in flight, recording every
    answer: acked (seq → body), refused (body, error code), unanswered (connection lost)."""

    def __init__(self, client: Client, room: str, tag: str, window: int = 4,
                 reply_timeout: float = 15):
        self.client = client
        self.room = room
        self.tag = tag
        self.window = window
        self.reply_timeout = reply_timeout
        self.acked: dict[int, str] = {}
        self.refused: list[tuple[str, str]] = []
        self.unanswered: list[str] = []  # the connection closed first
        self.timed_out: list[str] = []  # no reply within reply_timeout (the protocol owes one)
        self.attempts = 0

    async def _one(self, body: str) -> None:
        try:
            seq = await self.client.send(self.room, body, timeout=self.reply_timeout)
        except ProtocolError as e:
            self.refused.append((body, e.code))
        except ConnectionError:
            self.unanswered.append(body)
        except AssertionError:  # Client.request's timeout
            self.timed_out.append(body)
        else:
            assert seq not in self.acked, f"seq {seq} acked twice"
            self.acked[seq] = body

    async def run(self, count: int | None = None, stop: asyncio.Event | None = None,
                  pause: float = 0.0) -> None:
        """Sends `count` messages, or until `stop` is set or the connection closes."""
        in_flight: set[asyncio.Task] = set()
        for i in itertools.count():
            if (count is not None and i >= count) or (stop is not None and stop.is_set()) \
                    or self.client.closed.is_set():
                break
            while len(in_flight) >= self.window:
                _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            self.attempts += 1
            in_flight.add(asyncio.create_task(self._one(f"{self.tag}#{i}")))
            if pause:
                await asyncio.sleep(pause)
        if in_flight:
            await asyncio.gather(*in_flight)


class RoomFollower:
    """A careful client of one room: checks that live delivery is in seq order with no gap or
    duplicate, and when its connection drops (node killed, server closed it) reconnects to the
    next node that takes it and resumes with since+epoch, paging `history` when the join's
    recovery did not fit. `problems` lists every broken promise it saw."""

    def __init__(self, user: str, room: str, nodes: list[Node], first: Node,
                 reconnect_timeout: float = 30, reconnect_delay: float = 0):
        self.user = user
        self.room = room
        self.nodes = nodes
        self.node = first
        self.reconnect_timeout = reconnect_timeout
        self.reconnect_delay = reconnect_delay  # a slow client: more to recover than fits a join
        self.received: dict[int, dict] = {}
        self.last = 0
        self.epoch: str | None = None
        self.problems: list[str] = []
        self.reconnects: list[Node] = []
        self.disconnects: list[int | None] = []  # close codes of the dropped connections
        self.resumed_with_more = 0  # rejoins whose recovery did not fit the ack
        self.client: Client | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._progress = asyncio.Condition()
        self._join_seq = 0  # live messages of the current connection must come after it

    async def start(self) -> "RoomFollower":
        self.client = await Client.connect(self.node, self.user)
        ack = await self.client.join(self.room)
        self.epoch = ack["epoch"]
        await self._take_join(ack, resumed=False)
        self._task = asyncio.create_task(self._follow(), name=f"follower {self.user}")
        return self

    async def _accept(self, message: dict, how: str) -> None:
        seq = message["seq"]
        if seq != self.last + 1:
            self.problems.append(f"{how}: got seq {seq} after {self.last}")
        if seq > self.last:
            self.received[seq] = message
            self.last = seq
        async with self._progress:
            self._progress.notify_all()

    async def _take_join(self, ack: dict, resumed: bool) -> None:
        """Takes the join ack's history, and the pages after it when it did not fit."""
        if resumed and ack.get("recovered") is not True:
            self.problems.append(f"rejoin on {self.node.name}: recovered={ack.get('recovered')} "
                                 f"(since {self.last}, epoch {self.epoch} → {ack['epoch']})")
        self.epoch = ack["epoch"]
        self._join_seq = ack["seq"]
        if not resumed:
            # a first join shows the latest messages: start counting from there
            self.last = ack["history"][0]["seq"] - 1 if ack["history"] else ack["seq"]
        for m in ack["history"]:
            await self._accept(m, "join history")
        if ack.get("more"):
            self.resumed_with_more += resumed
            _, rest = await read_whole_room(self.client, self.room, since=self.last)
            for m in rest:
                await self._accept(m, "history page")

    async def _follow(self) -> None:
        cursor = 0
        while not self._stopping:
            client = self.client
            await client.wait_until(lambda: len(client.events) > cursor or client.closed.is_set(),
                                    timeout=3600)
            for event in client.events[cursor:]:
                p = event.get("payload", {})
                if event.get("type") != "new_message" or p.get("room") != self.room:
                    continue
                if p["seq"] <= self._join_seq:
                    self.problems.append(f"live seq {p['seq']} at or below the join's seq {self._join_seq}")
                elif p["seq"] <= self.last:
                    pass  # already read from a history page after the rejoin
                else:
                    await self._accept(p, f"live on {client.node.name}")
            cursor = len(client.events)
            if client.closed.is_set() and not self._stopping:
                self.disconnects.append(client.close_code)
                await self._reconnect()
                cursor = 0

    async def _reconnect(self) -> None:
        await asyncio.sleep(self.reconnect_delay)
        deadline = time.monotonic() + self.reconnect_timeout
        order = self.nodes[self.nodes.index(self.node) + 1:] + self.nodes[:self.nodes.index(self.node) + 1]
        last_error = None
        while time.monotonic() < deadline:
            for node in order:
                if not node.alive:
                    continue
                try:
                    client = await Client.connect(node, self.user, open_timeout=2)
                except (OSError, AssertionError, InvalidStatus, asyncio.TimeoutError) as e:
                    last_error = e
                    continue
                try:
                    ack = await client.join(self.room, since=self.last, epoch=self.epoch)
                except (ProtocolError, ConnectionError, AssertionError) as e:
                    last_error = e
                    await client.close()
                    continue
                self.client, self.node = client, node
                self.reconnects.append(node)
                await self._take_join(ack, resumed=True)
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"{self.user}: could not rejoin {self.room} on any node within "
                             f"{self.reconnect_timeout} s: {last_error!r}")

    async def wait_for_seq(self, seq: int, timeout: float) -> None:
        async def reached():
            async with self._progress:
                await self._progress.wait_for(lambda: self.last >= seq or
                                              (self._task is not None and self._task.done()))
        try:
            await asyncio.wait_for(reached(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"follower {self.user} on {self.node.name}: reached seq {self.last}, "
                                 f"not {seq}, within {timeout} s; problems {self.problems[:5]}") from None
        if self._task.done() and self._task.exception():
            raise self._task.exception()

    async def stop(self) -> None:
        self._stopping = True
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
