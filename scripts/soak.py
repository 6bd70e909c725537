#!/usr/bin/env python3
"""Chaos soak for the Switchboard chat server.

For a bounded time it keeps 1,000+ WebSocket clients churning against one server
on 127.0.0.1 (abrupt drops, frozen peers, slow consumers, reconnect storms with
`since` recovery, normal closes) while a set of healthy clients checks that
every message reaches them exactly once and in `seq` order. At the end it
checks that the hub's live connection count returns to 0 and that the server's
RSS is within a tolerance of its warm baseline, and prints one line that starts
with `soak:`. Exit 0 on PASS, 1 on FAIL, 2 on a usage error.

Normally started by scripts/soak.sh, which starts the server with short ping
settings and passes --port and --server-pid. Progress goes to stderr; stdout
carries only the summary line.

Who does what:
  healthy    20 clients (+ a busy-room pump and a storm-room pump) in a few rooms,
             sending at a modest rate; every new_message is recorded per room from
             the join ack's seq on. Lost = seqs missing from a member's stream,
             duplicated = seqs seen twice (or at/below the join seq), reordered =
             a seq lower than one already seen; plus, by content, every healthy
             message must reach every healthy member that joined before it.
  churners   --churners slots, each cycling through: normal close (1000), abrupt
             drop (no close frame; FIN or RST), frozen peer (stops reading, so it
             answers no ping: the server must drop it after the ping timeout),
             slow consumer (tiny receive window and MSS, never reads, pings the
             server to stay alive: its queue must overflow and the server must
             drop it with 4008; `user_left` in the busy room tells when).
  hostile    --hostile-slots: a few churner slots each run one hostile client back to
             back (NAME: what it does -> what must happen):
             pingflood  empty pings as fast as it can through a tiny window, never
                        reads -> dropped (4008, or TCP) within --pingflood-max;
             roomchurn  join a new unique room, post, leave, --roomchurn-rooms times ->
                        switchboard_rooms back to the healthy clients' rooms once only
                        they are left, and 0 after everyone left;
             flood      send_message at --flood-factor x the rate limit, ignoring
                        rate_limited -> 4029 within --flood-close-max;
             polite     pipeline up to 16, halve + exponential backoff with jitter on
                        rate_limited, for --polite-stint, on its own thread (to reach
                        the limit) -> never closed (whether it met the limit, which a
                        slow server may not let it, shows as rate_limited);
             resend     send with an idempotency_key into a quiet room, resend it,
                        resend from a new connection of the same user -> the same
                        seq each time, and each healthy member holds it exactly once;
             bighistory join the big room (--big-messages of 4,096 U+0001) with
                        since 0 -> an ack with more: true, `history` pages bring the
                        rest contiguously, never a 4008;
             labelclose close --labelclose-conns connections, each with a random code
                        3000-3999 -> at the end at most
                        --max-close-series switchboard_connections_closed_total series;
             origin     upgrade with Host and Origin evil.test:PORT and a valid
                        ticket (DNS rebinding) -> 403.
  storms     --storm-size clients in one room all drop at once, log in again and
             rejoin with `since` = the last seq they saw: `recovered` must be true,
             history must hold exactly last+1..seq, live must continue at seq+1.
  server     live connections from /metrics (switchboard_connections) must return
             to 0 after everyone left; RSS (/proc/PID/status) at the end must be
             within --rss-tolerance of the warm baseline (peak RSS over a short
             window of full load after the warm-up).

Without the switchboard_connections gauge in /metrics the live count cannot be
read and the run fails; --allow-missing-gauge counts the server's open TCP
connections on the port (/proc/net/tcp) instead.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

try:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.sync.client import connect as ws_connect_sync
    from websockets.exceptions import ConnectionClosed, WebSocketException
except ImportError:  # pragma: no cover - reported to the user
    print("soak: FAIL the 'websockets' package is missing (pip install -r scripts/soak-requirements.txt)")
    sys.exit(1)

HOST = "127.0.0.1"  # all traffic stays on the loopback interface
START = time.monotonic()


def log(msg: str) -> None:
    print(f"[soak {time.monotonic() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- HTTP


async def http_request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10.0):
    """A minimal HTTP/1.1 client (one request per connection) for /login and /metrics."""

    async def run():
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + (body or b""))
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
        header, _, rest = raw.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = re.search(rb"(?im)^content-length:\s*(\d+)", header)
        if length:
            rest = rest[: int(length.group(1))]
        return status, rest

    return await asyncio.wait_for(run(), timeout)


async def login_ticket(port: int, user: str) -> str:
    status, body = await http_request(port, "POST", "/login", json.dumps({"username": user}).encode())
    if status != 200:
        raise RuntimeError(f"login_{status}")
    return json.loads(body)["ticket"]


async def small_window_socket(port: int, rcvbuf: int | None, mss: int | None) -> socket.socket:
    """A connected, non-blocking socket with a small receive buffer and/or MSS."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if mss:
        # A small MSS keeps the server's send buffer small: on loopback (MSS 64 KiB)
        # the kernel grows it to tcp_wmem's max (4 MiB) before the server's own
        # queue sees anything.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def raw_upgrade(port: int, path: str, host: str | None = None, origin: str | None = None,
                      rcvbuf: int | None = None, mss: int | None = None, timeout: float = 10.0):
    """A WebSocket upgrade written by hand, for requests the library would not send (any
    Host, any Origin) and for frames it would not send (a flood of empty pings). Returns
    (status, reader, writer); the connection stays open, whatever the status."""
    sock = await small_window_socket(port, rcvbuf, mss) if (rcvbuf or mss) else None
    if sock is None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: {host or f'{HOST}:{port}'}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            head += f"Origin: {origin}\r\n"
        writer.write(head.encode() + b"\r\n")
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        return int(response.split(b" ", 2)[1]), reader, writer
    except BaseException:
        writer.transport.abort()
        raise


# --------------------------------------------------------------------------- statistics


@dataclass
class Stats:
    connects: int = 0
    connect_errors: Counter = field(default_factory=Counter)
    live_clients: int = 0
    peak_clients: int = 0
    behaviours: Counter = field(default_factory=Counter)
    normal_close_ok: int = 0
    normal_close_bad: Counter = field(default_factory=Counter)
    drops: int = 0
    frozen_started: int = 0
    frozen_dropped: int = 0
    frozen_not_dropped: int = 0
    slow_started: int = 0
    slow_4008: int = 0
    slow_dropped_no_frame: int = 0
    slow_other_close: Counter = field(default_factory=Counter)
    slow_survived: int = 0
    slow_left_seen: int = 0
    slow_run_ended: int = 0
    slow_pings: int = 0
    slow_ping_errors: Counter = field(default_factory=Counter)
    churner_errors: Counter = field(default_factory=Counter)
    storms: int = 0
    recoveries_ok: int = 0
    recoveries_failed: int = 0
    recovery_failures: Counter = field(default_factory=Counter)
    storm_stream_errors: int = 0
    healthy_unexpected_closes: list = field(default_factory=list)
    healthy_send_errors: Counter = field(default_factory=Counter)
    # hostile clients (each in its own churner slots; see HOSTILE_BEHAVIOURS)
    pingflood_started: int = 0
    pingflood_dropped: int = 0
    pingflood_not_dropped: int = 0
    pingflood_pings: int = 0
    pingflood_max_drop_s: float = 0.0
    roomchurn_rooms: int = 0
    roomchurn_errors: Counter = field(default_factory=Counter)
    flood_started: int = 0
    flood_4029: int = 0
    flood_max_close_s: float = 0.0
    flood_bad: Counter = field(default_factory=Counter)
    polite_started: int = 0
    polite_kept: int = 0
    polite_acked: int = 0
    polite_rate_limited: int = 0
    polite_closed: Counter = field(default_factory=Counter)
    resend_started: int = 0
    resend_same_seq: int = 0
    resend_bad: Counter = field(default_factory=Counter)
    big_started: int = 0
    big_ok: int = 0
    big_paged: int = 0
    big_bad: Counter = field(default_factory=Counter)
    labelclose_done: int = 0
    origin_tried: int = 0
    origin_403: int = 0
    origin_bad: Counter = field(default_factory=Counter)
    notes: list = field(default_factory=list)

    def opened(self):
        self.connects += 1
        self.live_clients += 1
        self.peak_clients = max(self.peak_clients, self.live_clients)

    def closed(self):
        self.live_clients -= 1


# --------------------------------------------------------------------------- client


class Client:
    """One WebSocket connection (websockets library: pings are answered automatically
    as long as the transport is read). Replies are matched by `id`; join acks are
    applied in the reader, before any live event of the room, as the protocol orders them."""

    def __init__(self, soak: "Soak", user: str, on_event=None, on_join=None, max_queue: int = 64):
        self.soak = soak
        self.user = user
        self.on_event = on_event
        self.on_join = on_join
        self.max_queue = max_queue
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 1
        self.closed = asyncio.Event()
        self.close_rcvd_code: int | None = None  # code of the server's close frame, if any
        self.closing_on_purpose = False

    async def open(self, rcvbuf: int | None = None, timeout: float = 15.0, mss: int | None = None) -> None:
        async def run():
            ticket = await login_ticket(self.soak.port, self.user)
            kwargs = {}
            if rcvbuf or mss:
                kwargs["sock"] = await small_window_socket(self.soak.port, rcvbuf, mss)
            self.ws = await ws_connect(
                f"ws://{HOST}:{self.soak.port}/ws?ticket={ticket}",
                proxy=None, compression=None, ping_interval=None, close_timeout=3,
                open_timeout=timeout, max_queue=self.max_queue, user_agent_header=None, **kwargs,
            )

        await asyncio.wait_for(run(), timeout)
        self.soak.stats.opened()
        self.soak.open_clients.add(self)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        ws = self.ws
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except (TypeError, ValueError):
                    continue
                mid = msg.get("id")
                if mid is not None:
                    if msg.get("type") == "ack" and self.on_join is not None:
                        p = msg.get("payload") or {}
                        if "members" in p and "seq" in p:
                            self.on_join(p)
                    fut = self.pending.pop(mid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif self.on_event is not None:
                    self.on_event(msg)
        except ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - keep the soak running, but say it
            self.soak.stats.churner_errors[f"reader_{type(e).__name__}"] += 1
        finally:
            rcvd = getattr(ws.protocol, "close_rcvd", None)
            self.close_rcvd_code = rcvd.code if rcvd is not None else None
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
            self.pending.clear()
            self.soak.open_clients.discard(self)
            self.soak.stats.closed()
            self.closed.set()

    def _send(self, type_: str, payload: dict) -> asyncio.Future:
        mid = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        return mid, fut

    async def request(self, type_: str, payload: dict, timeout: float = 10.0) -> dict:
        mid, fut = self._send(type_, payload)
        await self.ws.send(json.dumps({"type": type_, "payload": payload, "id": mid}, separators=(",", ":")))
        return await asyncio.wait_for(fut, timeout)

    async def request_many(self, items: list[tuple[str, dict]], timeout: float = 20.0) -> list:
        """Pipelines several requests; returns replies (or exceptions) in order."""
        futs = []
        for type_, payload in items:
            mid, fut = self._send(type_, payload)
            futs.append(fut)
            await self.ws.send(json.dumps({"type": type_, "payload": payload, "id": mid}, separators=(",", ":")))
        done = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), timeout)
        return list(done)

    async def join(self, room: str, since: int | None = None, timeout: float = 10.0) -> dict:
        payload = {"room": room}
        if since is not None:
            payload["since"] = since
        reply = await self.request("join_room", payload, timeout)
        if reply.get("type") != "ack":
            raise RuntimeError(f"join_error_{(reply.get('payload') or {}).get('code')}")
        return reply["payload"]

    async def close(self, timeout: float = 5.0) -> None:
        self.closing_on_purpose = True
        if self.ws is None:
            return
        try:
            await asyncio.wait_for(self.ws.close(1000), timeout)
        except (asyncio.TimeoutError, WebSocketException, OSError):
            pass
        if self.reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.closed.wait()), 2.0)
            except asyncio.TimeoutError:
                self.abort()

    def abort(self, rst: bool = False) -> None:
        """Drops the TCP connection without a close frame (RST when `rst`)."""
        self.closing_on_purpose = True
        if self.ws is None or self.ws.transport is None:
            return
        if rst:
            sock = self.ws.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
        self.ws.transport.abort()

    def pause(self) -> None:
        self.ws.transport.pause_reading()

    def resume(self) -> None:
        if not self.ws.transport.is_closing():
            self.ws.transport.resume_reading()


# --------------------------------------------------------------------------- healthy clients


class RoomTrack:
    """What one connection saw of one room since its join."""

    __slots__ = ("join_seq", "last", "seqs", "texts", "gaps", "backwards")

    def __init__(self, join_seq: int):
        self.join_seq = join_seq
        self.last = join_seq
        self.seqs: list[int] = []
        self.texts: dict[int, tuple[str, int]] = {}
        self.gaps = 0
        self.backwards = 0

    def add(self, seq: int, frm: str, text: str, keep_text: bool = True) -> None:
        if seq > self.last + 1:
            self.gaps += 1
        elif seq <= self.last:
            self.backwards += 1
        self.last = max(self.last, seq)
        self.seqs.append(seq)
        if keep_text and seq not in self.texts:
            self.texts[seq] = (frm, hash(text))  # a hash keeps memory flat over long runs


class Healthy:
    """A well-behaved client: stays connected for the whole run, answers pings, reads
    everything and records every `new_message` per room from its join onward."""

    def __init__(self, soak: "Soak", user: str, rooms: list[str], send_rooms: list[str], rate: float):
        self.soak = soak
        self.user = user
        self.rooms = rooms
        self.send_rooms = send_rooms
        self.rate = rate
        self.tracks: dict[str, RoomTrack] = {}
        self.sent: list[tuple[str, int, int]] = []  # (room, seq, hash(text)) acked by the server
        self.counter = 0
        self.client = Client(soak, user, on_event=self._event, on_join=self._joined, max_queue=4096)

    def _joined(self, ack: dict) -> None:
        room = ack.get("room")
        if room in self.rooms and room not in self.tracks:
            self.tracks[room] = RoomTrack(int(ack["seq"]))

    def _event(self, msg: dict) -> None:
        if msg.get("type") != "new_message":
            return
        p = msg.get("payload") or {}
        track = self.tracks.get(p.get("room"))
        if track is None:
            self.soak.stats.notes.append(f"{self.user}: new_message for {p.get('room')} before its join ack")
            return
        track.add(int(p.get("seq", -1)), p.get("from", ""), p.get("message", ""))

    async def start(self) -> None:
        await self.client.open()
        for room in self.rooms:
            await self.client.join(room)

    def next_text(self, size: int | None = None) -> str:
        self.counter += 1
        return f"H|{self.user}|{self.counter}|" + "x" * (size if size is not None else random.randint(10, 120))

    async def send(self, room: str) -> None:
        text = self.next_text()
        try:
            reply = await self.client.request("send_message", {"room": room, "message": text}, 10.0)
        except Exception as e:  # noqa: BLE001
            self.soak.stats.healthy_send_errors[type(e).__name__] += 1
            return
        if reply.get("type") == "ack":
            self.sent.append((room, int(reply["payload"]["seq"]), hash(text)))
        else:
            self.soak.stats.healthy_send_errors[(reply.get("payload") or {}).get("code", "?")] += 1

    async def send_burst(self, room: str, count: int, size: int) -> None:
        texts = [self.next_text(size) for _ in range(count)]
        try:
            replies = await self.client.request_many(
                [("send_message", {"room": room, "message": t}) for t in texts], timeout=30.0)
        except Exception as e:  # noqa: BLE001
            self.soak.stats.healthy_send_errors[f"burst_{type(e).__name__}"] += 1
            return
        for text, reply in zip(texts, replies):
            if isinstance(reply, dict) and reply.get("type") == "ack":
                self.sent.append((room, int(reply["payload"]["seq"]), hash(text)))
            else:
                self.soak.stats.healthy_send_errors["burst_reply"] += 1

    async def run_sender(self, stop_at: float) -> None:
        if not self.send_rooms or self.rate <= 0:
            return
        while time.monotonic() < stop_at and not self.client.closed.is_set():
            await asyncio.sleep(min(random.expovariate(self.rate), max(0.0, stop_at - time.monotonic())))
            if time.monotonic() >= stop_at:
                break
            await self.send(random.choice(self.send_rooms))


# --------------------------------------------------------------------------- storm clients


class StormClient:
    """Member of the storm room. Checks its live stream is gap-free; in a storm it drops,
    reconnects with everyone else, and rejoins with `since` = the last seq it saw."""

    def __init__(self, soak: "Soak", user: str, room: str):
        self.soak = soak
        self.user = user
        self.room = room
        self.track: RoomTrack | None = None
        self.client: Client | None = None
        self.stream_errors = 0
        self.histories: list[tuple[int, int]] = []  # (seq, hash(text)) recovered through history
        self.first_live = None  # asyncio.Future set at the first live message after a rejoin

    def _new_client(self) -> Client:
        return Client(self.soak, self.user, on_event=self._event, on_join=self._joined, max_queue=1024)

    def _joined(self, ack: dict) -> None:
        if ack.get("room") != self.room:
            return
        seq = int(ack["seq"])
        hist = ack.get("history") or []
        if self.track is None:
            self.track = RoomTrack(seq)
        else:
            # Rejoin: history must carry last+1 .. seq, then live continues at seq+1.
            for h in hist:
                self.track.add(int(h["seq"]), h.get("from", ""), h.get("message", ""), keep_text=False)
                self.histories.append((int(h["seq"]), hash(h.get("message", ""))))
            if self.track.last != seq:
                self.track.gaps += 1
            self.track.last = seq

    def _event(self, msg: dict) -> None:
        if msg.get("type") != "new_message":
            return
        p = msg.get("payload") or {}
        if p.get("room") != self.room or self.track is None:
            return
        seq = int(p.get("seq", -1))
        if self.first_live is not None and not self.first_live.done():
            self.first_live.set_result(seq)
        before_gaps, before_back = self.track.gaps, self.track.backwards
        self.track.add(seq, p.get("from", ""), "", keep_text=False)
        if self.track.gaps != before_gaps or self.track.backwards != before_back:
            self.stream_errors += 1
        # keep memory flat: storm clients only need counts
        self.track.seqs.clear()

    async def start(self) -> None:
        self.client = self._new_client()
        await self.client.open()
        await self.client.join(self.room)

    async def storm_drop(self) -> int | None:
        last = self.track.last if self.track else None
        if self.client is not None:
            self.client.abort(rst=random.random() < 0.5)
        return last

    async def storm_rejoin(self, deadline: float) -> str | None:
        """Reconnects and recovers; returns None on success or a failure reason."""
        since = self.track.last
        errors_before = self.stream_errors
        gaps_before = self.track.gaps
        attempt = 0
        while True:
            attempt += 1
            self.client = self._new_client()
            try:
                await self.client.open(timeout=min(15.0, max(1.0, deadline - time.monotonic())))
                break
            except Exception as e:  # noqa: BLE001
                self.soak.stats.connect_errors[f"storm_{type(e).__name__}"] += 1
                if time.monotonic() + 1.0 > deadline or attempt >= 5:
                    return f"reconnect_{type(e).__name__}"
                await asyncio.sleep(random.uniform(0.2, 1.0) * attempt)
        self.first_live = asyncio.get_running_loop().create_future()
        try:
            ack = await self.client.join(self.room, since=since, timeout=10.0)
        except Exception as e:  # noqa: BLE001
            return f"join_{type(e).__name__}"
        if ack.get("recovered") is not True:
            return "recovered_not_true"
        hist = [int(h["seq"]) for h in ack.get("history") or []]
        if hist != list(range(since + 1, int(ack["seq"]) + 1)):
            return "history_not_contiguous"
        if self.track.gaps != gaps_before:
            return "history_gap"
        try:
            first = await asyncio.wait_for(asyncio.shield(self.first_live), 8.0)
        except asyncio.TimeoutError:
            return "no_live_message"
        if first != int(ack["seq"]) + 1:
            return "live_gap_after_history"
        if self.stream_errors != errors_before:
            return "stream_error"
        return None


# --------------------------------------------------------------------------- the soak

# Hostile clients: each runs back to back (with --hostile-pause between runs) in its own
# few churner slots, so every run sees each of them whatever its length, at a fixed cost.
HOSTILE_BEHAVIOURS = ("pingflood", "roomchurn", "flood", "polite", "resend", "bighistory", "labelclose", "origin")


class Soak:
    def __init__(self, args):
        self.args = args
        self.port = args.port
        self.stats = Stats()
        self.open_clients: set[Client] = set()
        self.healthy: list[Healthy] = []
        self.storm: list[StormClient] = []
        self.rss_baseline: int | None = None
        self.rss_final: int | None = None
        self.gauge_seen = False
        self.baseline_connects = 0
        self.final_live: int | None = None
        self.final_live_source = "n/a"
        self.failures: list[str] = []
        self.server_4008: int | None = None
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.duration
        self.churn_stop = asyncio.Event()
        self.slow_waiters: dict[str, asyncio.Event] = {}
        self.max_lag = 0.0
        self.window_lag = 0.0
        self.storm_running = False
        self.rooms_quiet = [f"q{i}" for i in range(4)]
        self.rooms_churn = [f"c{i}" for i in range(8)]
        self.room_busy = "busy"
        self.room_storm = "storm"
        self.room_big = "big"  # prefilled with messages that do not fit in one join ack
        self.room_flood = "flood"  # the flooders' and polite pipeliners' own room
        self.room_churn_next = 0
        self.resent: list[tuple[str, int, str, int]] = []  # (room, seq, user, hash(text)) of acked resends
        self.rooms_with_healthy: int | None = None  # switchboard_rooms once only healthy clients are left
        self.rooms_final: int | None = None
        self.close_series: int | None = None
        self.rooms_expected = 0
        self.slot_behaviours = {}
        for name in HOSTILE_BEHAVIOURS:
            for _ in range(args.hostile_slots.get(name, 0)):
                self.slot_behaviours[len(self.slot_behaviours)] = name

    # ---------------------------------------------------------------- server observation

    def rss(self) -> int | None:
        if not self.args.server_pid:
            return None
        try:
            with open(f"/proc/{self.args.server_pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def server_alive(self) -> bool:
        if not self.args.server_pid:
            return True
        try:
            with open(f"/proc/{self.args.server_pid}/stat") as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    async def metrics(self) -> str | None:
        try:
            status, body = await http_request(self.port, "GET", "/metrics", timeout=5.0)
        except Exception:  # noqa: BLE001
            return None
        return body.decode(errors="replace") if status == 200 else None

    @staticmethod
    def metric_value(text: str, name: str, labels: str | None = None) -> float | None:
        total = None
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            if labels is not None and labels not in (m.group(2) or ""):
                continue
            total = (total or 0.0) + float(m.group(3))
        return total

    def server_tcp_connections(self) -> int:
        """Server-side TCP connections on the port (ESTABLISHED, SYN_RECV or CLOSE_WAIT)."""
        count = 0
        for path in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(path) as f:
                    next(f)
                    for line in f:
                        parts = line.split()
                        local_port = int(parts[1].rsplit(":", 1)[1], 16)
                        if local_port == self.port and parts[3] in ("01", "03", "08"):
                            count += 1
            except OSError:
                pass
        return count

    async def live_count(self) -> tuple[int | None, str]:
        text = await self.metrics()
        if text is not None:
            v = self.metric_value(text, "switchboard_connections")
            if v is not None:
                self.gauge_seen = True
                return int(v), "gauge"
        return self.server_tcp_connections(), "tcp"

    # ---------------------------------------------------------------- setup

    async def prefill(self) -> None:
        """Fills every room's history to the retention limit, so the store is at its
        steady size before the RSS baseline is taken."""
        n = self.args.room_retention
        if n <= 0:
            return
        rooms = self.rooms_quiet + self.rooms_churn + [self.room_busy, self.room_storm]

        async def fill(room: str) -> None:
            # One connection per room, in chunks of 150 a second: servers that limit events
            # per connection (200/s, bursts of 400 by default) must not refuse the prefill.
            c = Client(self, f"prefill{rooms.index(room)}", max_queue=None)
            await c.open()
            await c.join(room)
            for start in range(0, n, 150):
                if start:
                    await asyncio.sleep(1.0)
                k = min(150, n - start)
                replies = await c.request_many(
                    [("send_message", {"room": room, "message": f"P|{room}|{start + i}|" + "p" * 60}) for i in range(k)],
                    timeout=60.0)
                refused = sum(1 for r in replies if not (isinstance(r, dict) and r.get("type") == "ack"))
                if refused:
                    self.stats.notes.append(f"prefill of {room}: {refused} messages refused")
            await c.close()

        await asyncio.gather(*(fill(room) for room in rooms))

    async def prefill_big(self) -> None:
        """Fills the big room with messages that together do not fit in the outbound queue
        (4,096 U+0001 each, escaped to 6 bytes: 24 KiB a frame), before the RSS baseline."""
        if self.args.hostile_slots.get("bighistory", 0) <= 0:
            return
        c = Client(self, "prefillbig", max_queue=None)
        await c.open()
        await c.join(self.room_big)
        replies = await c.request_many(
            [("send_message", {"room": self.room_big, "message": "\u0001" * 4096}) for _ in range(self.args.big_messages)],
            timeout=60.0)
        refused = sum(1 for r in replies if not (isinstance(r, dict) and r.get("type") == "ack"))
        if refused:
            self.failures.append(f"big_prefill_refused_{refused}")
        await c.close()

    async def start_healthy(self) -> None:
        a = self.args
        for i in range(a.healthy):
            rooms = [self.rooms_quiet[i % 4], self.rooms_quiet[(i + 1) % 4]]
            if i % 5 == 0:
                rooms.append(self.room_busy)
            if i % 4 == 1:
                rooms.append(self.room_storm)
            self.healthy.append(Healthy(self, f"healthy{i}", rooms, rooms[:2], a.healthy_rate))
        # The pumps are healthy clients too: one bursts into the busy room (slow consumers
        # overflow there), one feeds the storm room (so reconnecting clients miss messages).
        self.busy_pump = Healthy(self, "busypump", [self.room_busy], [], 0)
        self.busy_pump.client.on_event = self._busy_pump_event
        self.storm_pump = Healthy(self, "stormpump", [self.room_storm], [self.room_storm], a.storm_rate)
        self.healthy += [self.busy_pump, self.storm_pump]
        await asyncio.gather(*(h.start() for h in self.healthy))

    # ---------------------------------------------------------------- churners

    def pick_behaviour(self) -> str:
        a = self.args
        r = random.random()
        for name, w in (("frozen", a.frozen_share), ("slow", a.slow_share), ("drop", a.drop_share)):
            if r < w:
                return name
            r -= w
        return "normal"

    async def churner_slot(self, slot: int, first_delay: float) -> None:
        await asyncio.sleep(first_delay)
        cycle = 0
        while not self.churn_stop.is_set() and time.monotonic() < self.deadline:
            cycle += 1
            behaviour = self.slot_behaviours.get(slot) or self.pick_behaviour()
            self.stats.behaviours[behaviour] += 1
            user = f"sl{slot}x{cycle}" if behaviour == "slow" else f"ch{slot}"
            client = Client(self, user, max_queue=256)
            try:
                await getattr(self, f"behave_{behaviour}")(client)
            except asyncio.CancelledError:
                client.abort()
                raise
            except Exception as e:  # noqa: BLE001
                name = type(e).__name__
                if client.ws is None:
                    self.stats.connect_errors[f"{behaviour}_{name}:{e}"[:60]] += 1
                else:
                    self.stats.churner_errors[f"{behaviour}_{name}"] += 1
                client.abort()
                await asyncio.sleep(random.uniform(0.2, 1.0))
            if slot in self.slot_behaviours:
                await self.sleep_or_stop(random.uniform(*self.args.hostile_pause))

    def lifetime(self) -> float:
        lo, hi = self.args.churn_lifetime
        return random.uniform(lo, hi)

    async def sleep_or_stop(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.churn_stop.wait(), max(0.0, min(seconds, self.deadline - time.monotonic())))
        except asyncio.TimeoutError:
            pass

    async def behave_normal(self, c: Client) -> None:
        await c.open()
        room = random.choice(self.rooms_quiet) if random.random() < 0.2 else random.choice(self.rooms_churn)
        await c.join(room)
        if random.random() < 0.3:
            await c.request("send_message", {"room": room, "message": f"C|{c.user}|" + "c" * random.randint(5, 80)})
        await self.sleep_or_stop(self.lifetime())
        await asyncio.wait_for(c.ws.close(1000), 5.0)
        await asyncio.wait_for(c.closed.wait(), 5.0)
        if c.close_rcvd_code == 1000:
            self.stats.normal_close_ok += 1
        else:
            self.stats.normal_close_bad[str(c.close_rcvd_code)] += 1

    async def behave_drop(self, c: Client) -> None:
        await c.open()
        room = random.choice(self.rooms_quiet) if random.random() < 0.2 else random.choice(self.rooms_churn)
        await c.join(room)
        if random.random() < 0.3:
            await c.request("send_message", {"room": room, "message": f"C|{c.user}|" + "d" * random.randint(5, 80)})
        await self.sleep_or_stop(self.lifetime())
        c.abort(rst=random.random() < 0.5)
        self.stats.drops += 1

    async def behave_frozen(self, c: Client) -> None:
        """Joins, then stops reading (so it answers no ping) and sends nothing. The
        server must drop it after the ping timeout: we look after timeout + interval + 2 s."""
        a = self.args
        await c.open()
        await c.join(random.choice(self.rooms_churn))
        c.pause()
        self.stats.frozen_started += 1
        wait = a.ping_timeout + a.ping_interval + 2.0
        try:
            await asyncio.wait_for(self.churn_stop.wait(), wait)
            c.abort()  # the run ended before the verdict: not counted either way
            self.stats.frozen_started -= 1
            return
        except asyncio.TimeoutError:
            pass
        c.resume()
        try:
            await asyncio.wait_for(c.closed.wait(), 5.0)
        except asyncio.TimeoutError:
            self.stats.frozen_not_dropped += 1
            c.abort()
            return
        self.stats.frozen_dropped += 1

    async def behave_slow(self, c: Client) -> None:
        """Joins the busy room with a tiny receive buffer and MSS and never reads, but stays alive
        (it pings the server, so the ping timeout does not apply). Its queue must overflow and
        the server must drop it with 4008. The busy room's `user_left` for it tells when; it
        then reads what reached it, within the close timeout, and so sees the 4008 frame
        unless the server closed the TCP connection first (then 1006, also a drop)."""
        a = self.args
        user = c.user
        left = asyncio.Event()
        self.slow_waiters[user] = left
        keepalive = None
        try:
            await c.open(rcvbuf=4096, mss=536)

            async def ping_forever():
                # From the start: through a 4 KiB window the join ack (50 history messages)
                # can take longer than the ping timeout on a loaded machine, and the server's
                # pings wait behind it.
                try:
                    while True:
                        await c.ws.ping()
                        self.stats.slow_pings += 1
                        await asyncio.sleep(min(0.5, a.ping_interval / 4))
                except (WebSocketException, OSError) as e:
                    self.stats.slow_ping_errors[type(e).__name__] += 1
            keepalive = asyncio.create_task(ping_forever())
            await c.join(self.room_busy)
            c.pause()
            self.stats.slow_started += 1
            stop = asyncio.create_task(self.churn_stop.wait())
            gone = asyncio.create_task(left.wait())
            await asyncio.wait([stop, gone], timeout=a.slow_max, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            gone.cancel()
            keepalive.cancel()
            if not left.is_set():
                if self.churn_stop.is_set():
                    self.stats.slow_run_ended += 1  # the run ended first: no verdict
                else:
                    self.stats.slow_survived += 1  # not dropped within --slow-max
                c.abort()
                return
            self.stats.slow_left_seen += 1
            c.resume()
            try:
                await asyncio.wait_for(c.closed.wait(), a.close_timeout + 5.0)
            except asyncio.TimeoutError:
                self.stats.slow_other_close["still_open_after_user_left"] += 1
                c.abort()
                return
            if c.close_rcvd_code == 4008:
                self.stats.slow_4008 += 1
            elif c.close_rcvd_code is None:
                self.stats.slow_dropped_no_frame += 1
            else:
                self.stats.slow_other_close[str(c.close_rcvd_code)] += 1
        finally:
            if keepalive is not None:
                keepalive.cancel()
            self.slow_waiters.pop(user, None)

    async def behave_pingflood(self, c: Client) -> None:
        """Sends empty pings as fast as it can through a tiny receive window and never reads
        (a hand-made connection: the library would read its pongs). Every ping asks for a pong
        that cannot be delivered, so the server must drop it, as a slow consumer (4008) or by
        closing TCP, within --pingflood-max; our writes failing tells that it did."""
        a = self.args
        ticket = await login_ticket(self.port, c.user)
        status, _, writer = await raw_upgrade(self.port, f"/ws?ticket={ticket}", rcvbuf=4096, mss=536)
        try:
            if status != 101:
                self.stats.churner_errors[f"pingflood_upgrade_{status}"] += 1
                return
            writer.transport.pause_reading()
            self.stats.pingflood_started += 1
            batch = 1024  # few, large writes: the flood costs this process little
            pings = b"\x89\x80\x00\x00\x00\x00" * batch  # masked, empty (a zero mask is a valid mask)
            start = time.monotonic()
            try:
                while time.monotonic() - start < a.pingflood_max:
                    if self.churn_stop.is_set():
                        self.stats.pingflood_started -= 1  # the run ended before the verdict
                        return
                    if writer.transport.is_closing():  # lost without an error to raise
                        raise ConnectionResetError
                    writer.write(pings)
                    self.stats.pingflood_pings += batch
                    await asyncio.wait_for(writer.drain(), max(0.1, a.pingflood_max - (time.monotonic() - start)))
                    await asyncio.sleep(0)  # drain() does not yield while the kernel takes it all
            except asyncio.TimeoutError:  # before OSError: it is one since Python 3.11
                pass
            except (ConnectionError, OSError):
                took = time.monotonic() - start
                self.stats.pingflood_dropped += 1
                self.stats.pingflood_max_drop_s = max(self.stats.pingflood_max_drop_s, took)
                return
            self.stats.pingflood_not_dropped += 1
        finally:
            writer.transport.abort()

    async def behave_roomchurn(self, c: Client) -> None:
        """Joins a new, unique room, posts one message and leaves, --roomchurn-rooms times.
        The hub must free each room with its last member: at the end switchboard_rooms must
        be back to the healthy clients' rooms (see `settle_rooms`)."""
        await c.open()
        for _ in range(self.args.roomchurn_rooms):
            if self.churn_stop.is_set():
                break
            self.room_churn_next += 1
            room = f"rc{self.room_churn_next}"
            await c.join(room)
            self.stats.roomchurn_rooms += 1
            for type_, payload in (("send_message", {"room": room, "message": f"R|{c.user}|{room}"}),
                                   ("leave_room", {"room": room})):
                reply = await c.request(type_, payload)
                if reply.get("type") != "ack":
                    self.stats.roomchurn_errors[f"{type_}_{(reply.get('payload') or {}).get('code')}"] += 1
        await c.close()

    def flood_message(self, c: Client, mid: int) -> str:
        return json.dumps({"type": "send_message", "id": mid,
                           "payload": {"room": self.room_flood, "message": f"F|{c.user}|{mid}"}}, separators=(",", ":"))

    async def behave_flood(self, c: Client) -> None:
        """Sends at --flood-factor times the rate limit and ignores its `rate_limited` errors
        (replies are not even awaited). The flood rule must close it with 4029 within
        --flood-close-max seconds."""
        a = self.args
        await c.open()
        await c.join(self.room_flood)
        self.stats.flood_started += 1
        rate = a.flood_factor * a.rate_limit
        start = time.monotonic()
        sent = 0
        try:
            while not c.closed.is_set() and time.monotonic() - start < a.flood_close_max:
                due = int((time.monotonic() - start) * rate) + 1 - sent
                for _ in range(due):
                    sent += 1
                    await c.ws.send(self.flood_message(c, 1_000_000 + sent))
                await asyncio.sleep(0.02)
        except ConnectionClosed:
            pass
        try:
            await asyncio.wait_for(c.closed.wait(), a.close_timeout + 3.0)
        except asyncio.TimeoutError:
            self.stats.flood_bad["not_closed"] += 1
            c.abort()
            return
        took = time.monotonic() - start
        if c.close_rcvd_code != 4029:
            self.stats.flood_bad[f"code_{c.close_rcvd_code}"] += 1
        elif took > a.flood_close_max + a.close_timeout:
            self.stats.flood_bad["closed_late"] += 1
        else:
            self.stats.flood_4029 += 1
        self.stats.flood_max_close_s = max(self.stats.flood_max_close_s, took)

    async def behave_polite(self, c: Client) -> None:
        """Pipelines up to 16 messages at a time, as many as its window lets it; when a batch
        gets a `rate_limited`, halves its window and backs off exponentially with jitter, else
        grows it by one. Sending near the limit for --polite-stint seconds, it must never be
        closed (no 4029). It runs on a thread of its own: the soak's event loop, busy with a
        thousand clients, answers too slowly for 16 in flight to reach the limit."""
        a = self.args
        ticket = await login_ticket(self.port, c.user)
        stint = min(a.polite_stint, self.deadline - time.monotonic() - 6.0)
        if stint <= 1.0:
            return
        self.stats.polite_started += 1
        acked, limited, ended_by = await asyncio.to_thread(self.polite_stint, ticket, stint)
        self.stats.polite_acked += acked
        self.stats.polite_rate_limited += limited
        if ended_by is None:
            self.stats.polite_kept += 1
        else:
            self.stats.polite_closed[ended_by] += 1

    def polite_stint(self, ticket: str, seconds: float) -> tuple[int, int, str | None]:
        """Returns (acked, rate_limited, None), or what ended the connection early instead of None."""
        acked = limited = 0
        window, level, mid = 16, 0, 0
        end = time.monotonic() + seconds

        def answers(ids: set[int]) -> bool:
            """Reads until every id in `ids` is answered; whether any was refused."""
            nonlocal acked, limited
            refused = False
            while ids:
                msg = json.loads(ws.recv(timeout=20.0))
                if msg.get("id") in ids:
                    ids.discard(msg["id"])
                    if msg.get("type") == "ack":
                        acked += 1
                    elif (msg.get("payload") or {}).get("code") == "rate_limited":
                        limited += 1
                        refused = True
            return refused

        with ws_connect_sync(f"ws://{HOST}:{self.port}/ws?ticket={ticket}", proxy=None, compression=None,
                             open_timeout=15, close_timeout=3, user_agent_header=None, max_queue=None) as ws:
            try:
                ws.send(json.dumps({"type": "join_room", "id": 0, "payload": {"room": self.room_flood}}))
                answers({0})
                acked = 0
                while time.monotonic() < end and not self.churn_stop.is_set():
                    batch = set(range(mid + 1, mid + 1 + window))
                    for i in sorted(batch):
                        ws.send(json.dumps({"type": "send_message", "id": i,
                                            "payload": {"room": self.room_flood, "message": f"P|{i}"}}))
                    mid += window
                    if answers(batch):
                        window = max(1, window // 2)
                        time.sleep(min(2.0, 0.05 * 2 ** level) * random.uniform(0.5, 1.5))
                        level += 1
                    else:
                        window, level = min(16, window + 1), 0
            except ConnectionClosed:
                rcvd = ws.protocol.close_rcvd
                return acked, limited, f"code_{rcvd.code if rcvd else None}"
            except TimeoutError:
                return acked, limited, "no_reply_in_20s"
        return acked, limited, None

    async def behave_resend(self, c: Client) -> None:
        """Sends with an idempotency_key into a room healthy clients check, resends the same
        key on the same connection, then from a fresh connection of the same user: every ack
        must carry the first seq, and healthy members must get the message once
        (`verify_resends`)."""
        room = random.choice(self.rooms_quiet)
        key = f"{c.user}-{random.getrandbits(48):x}"
        text = f"I|{c.user}|{key}"
        payload = {"room": room, "message": text, "idempotency_key": key}
        await c.open()
        await c.join(room)
        self.stats.resend_started += 1
        seqs = []
        for _ in range(2):
            reply = await c.request("send_message", payload)
            seqs.append((reply.get("payload") or {}).get("seq") if reply.get("type") == "ack" else None)
        c.abort(rst=random.random() < 0.5)
        again = Client(self, c.user, max_queue=256)
        try:
            await again.open()
            await again.join(room)
            reply = await again.request("send_message", payload)
            seqs.append((reply.get("payload") or {}).get("seq") if reply.get("type") == "ack" else None)
            await again.close()
        finally:
            again.abort()
        if seqs[0] is None or len(set(seqs)) != 1:
            self.stats.resend_bad["seq_" + "/".join(map(str, seqs))] += 1
            return
        self.stats.resend_same_seq += 1
        self.resent.append((room, int(seqs[0]), c.user, hash(text)))

    async def behave_bighistory(self, c: Client) -> None:
        """Joins the big room with `since: 0`: its history (--big-messages of 4,096 U+0001,
        6 bytes each escaped) is larger than the outbound queue, so the ack must say
        `more: true` and `history` pages must bring the rest, contiguous, never a 4008."""
        await c.open()
        self.stats.big_started += 1
        try:
            await self.rejoin_big(c)
        except (ConnectionError, ConnectionClosed):
            await asyncio.wait_for(c.closed.wait(), 5.0)
            self.stats.big_bad[f"closed_{c.close_rcvd_code}"] += 1

    async def rejoin_big(self, c: Client) -> None:
        ack = await c.join(self.room_big, since=0, timeout=20.0)
        seqs = [int(m["seq"]) for m in ack.get("history") or []]
        top = int(ack["seq"])
        more = ack.get("more") is True
        if seqs != list(range(1, len(seqs) + 1)) or not seqs:
            self.stats.big_bad["ack_history_not_from_1"] += 1
            return
        if more:
            self.stats.big_paged += 1
        elif seqs[-1] != top:
            self.stats.big_bad["short_ack_without_more"] += 1
            return
        while more:
            reply = await c.request("history", {"room": self.room_big, "since": seqs[-1], "limit": 100}, 20.0)
            if reply.get("type") != "ack":
                self.stats.big_bad[f"page_{(reply.get('payload') or {}).get('code')}"] += 1
                return
            page = reply["payload"]
            seqs += [int(m["seq"]) for m in page.get("messages") or []]
            more = page.get("more") is True
        if seqs[: top] != list(range(1, top + 1)):
            self.stats.big_bad["pages_not_contiguous"] += 1
            return
        if c.closed.is_set():
            self.stats.big_bad[f"closed_{c.close_rcvd_code}"] += 1
            return
        await c.close()
        self.stats.big_ok += 1

    async def behave_labelclose(self, c: Client) -> None:
        """Opens --labelclose-conns connections and closes each with a code of its choosing
        (3000-3999). Such codes must not become metric labels: see the closed-series check in
        `finish_hostile`. Several a run, so that one series per code would show in 60 s."""
        clients = [c] + [Client(self, c.user, max_queue=16) for _ in range(self.args.labelclose_conns - 1)]

        async def close_with_own_code(x: Client) -> None:
            await x.open()
            await asyncio.wait_for(x.ws.close(random.randint(3000, 3999)), 5.0)
            await asyncio.wait_for(x.closed.wait(), 5.0)
            self.stats.labelclose_done += 1
        try:
            await asyncio.gather(*(close_with_own_code(x) for x in clients))
        finally:
            for x in clients[1:]:
                x.abort()

    async def behave_origin(self, c: Client) -> None:
        """A DNS-rebinding page: an upgrade with a valid ticket but Host and Origin of another
        site. The allowed origins come from configuration, never from Host: 403."""
        ticket = await login_ticket(self.port, c.user)
        site = f"evil.test:{self.port}"
        status, _, writer = await raw_upgrade(self.port, f"/ws?ticket={ticket}", host=site, origin=f"http://{site}")
        writer.transport.abort()
        self.stats.origin_tried += 1
        if status == 403:
            self.stats.origin_403 += 1
        else:
            self.stats.origin_bad[str(status)] += 1

    def _busy_pump_event(self, msg: dict) -> None:
        self.busy_event(msg)
        self.busy_pump._event(msg)

    def busy_event(self, msg: dict) -> None:
        """The busy pump's view of presence: a slow consumer's `user_left` means the server
        dropped it."""
        if msg.get("type") == "user_left":
            p = msg.get("payload") or {}
            ev = self.slow_waiters.get(p.get("user"))
            if ev is not None and p.get("room") == self.room_busy:
                ev.set()

    # ---------------------------------------------------------------- pumps, storms, monitor

    async def busy_pump_loop(self, stop_at: float) -> None:
        """Keeps the busy room busy: large messages at a steady rate, in small pipelined batches."""
        a = self.args
        tick = 0.25
        per_tick = max(1, round(a.busy_rate * tick))
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            n += 1
            t = time.monotonic()
            await self.busy_pump.send_burst(self.room_busy, per_tick, a.busy_message_size)
            took = time.monotonic() - t
            if took > 2.0:
                self.stats.notes.append(f"busy batch {n} took {took:.1f}s")
            next_at += tick
            await asyncio.sleep(max(0.0, min(next_at - time.monotonic(), stop_at - time.monotonic())))
            if next_at < time.monotonic() - 1.0:
                next_at = time.monotonic()  # the server cannot keep up: do not pile up


    async def storm_loop(self, first_at: float, stop_at: float) -> None:
        a = self.args
        next_at = first_at
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # a storm needs room to recover before the churn stops
            if time.monotonic() + a.storm_gap + 10.0 > stop_at:
                return
            self.storm_running = True
            self.stats.storms += 1
            members = [s for s in self.storm if s.client is not None and not s.client.closed.is_set() and s.track]
            log(f"storm {self.stats.storms}: {len(members)} clients drop and reconnect at once")
            for s in members:
                await s.storm_drop()
            await asyncio.sleep(a.storm_gap)
            results = await asyncio.gather(*(s.storm_rejoin(time.monotonic() + 30.0) for s in members),
                                           return_exceptions=True)
            for r in results:
                if r is None:
                    self.stats.recoveries_ok += 1
                else:
                    self.stats.recoveries_failed += 1
                    self.stats.recovery_failures[r if isinstance(r, str) else type(r).__name__] += 1
            self.storm_running = False
            log(f"storm {self.stats.storms}: ok={sum(r is None for r in results)} failed={sum(r is not None for r in results)}")
            next_at = time.monotonic() + a.storm_interval

    def server_cpu(self) -> float:
        try:
            with open(f"/proc/{self.args.server_pid}/stat") as f:
                fields = f.read().split(") ", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, TypeError, IndexError, ValueError):
            return 0.0

    async def lag_probe(self, stop_at: float) -> None:
        """Measures how late this process's event loop runs (a late loop answers pings late)."""
        while time.monotonic() < stop_at:
            t = time.monotonic()
            await asyncio.sleep(0.1)
            lag = time.monotonic() - t - 0.1
            self.max_lag = max(self.max_lag, lag)
            self.window_lag = max(self.window_lag, lag)

    async def monitor(self, stop_at: float) -> None:
        last_t, last_self, last_server = time.monotonic(), time.process_time(), self.server_cpu()
        while time.monotonic() < stop_at:
            await asyncio.sleep(min(5.0, max(0.1, stop_at - time.monotonic())))
            live, src = await self.live_count()
            rss = self.rss()
            now, me, srv = time.monotonic(), time.process_time(), self.server_cpu()
            dt = max(1e-3, now - last_t)
            cpu = f"cpu self={(me - last_self) / dt:.0%} server={(srv - last_server) / dt:.0%} lag_max={self.window_lag:.2f}s"
            last_t, last_self, last_server, self.window_lag = now, me, srv, 0.0
            log(f"clients={self.stats.live_clients} peak={self.stats.peak_clients} connects={self.stats.connects} "
                f"server_live={live}({src}) rss={rss / 2**20 if rss else 0:.1f}MiB {cpu} "
                f"frozen={self.stats.frozen_dropped}/{self.stats.frozen_started} slow4008={self.stats.slow_4008} "
                f"recov={self.stats.recoveries_ok}/{self.stats.recoveries_failed} conn_err={sum(self.stats.connect_errors.values())}")
            if not self.server_alive():
                self.failures.append("server process died")
                return

    async def take_baseline(self, at: float, latest: float) -> None:
        """The warm baseline: once the warm-up is over and the churning population is up
        (churner slots spend part of each cycle reconnecting, so about 3/4 of all clients are
        connected at any time), the highest RSS over a short window of full load."""
        d = self.args.duration
        target = self.args.churners + len(self.storm) + len(self.healthy)
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        while time.monotonic() < latest and self.stats.live_clients < 0.75 * target:
            await asyncio.sleep(0.5)
        if self.stats.live_clients < 0.75 * target:
            self.stats.notes.append(f"baseline taken with {self.stats.live_clients}/{target} clients")
        window_end = time.monotonic() + min(30.0, max(3.0, 0.05 * d))
        best = self.rss()
        while time.monotonic() < window_end:
            await asyncio.sleep(0.5)
            best = max(best or 0, self.rss() or 0) or None
        self.rss_baseline = best
        self.baseline_connects = self.stats.connects
        log(f"warm baseline: clients={self.stats.live_clients} connects={self.stats.connects} "
            f"rss={self.rss_baseline / 2**20 if self.rss_baseline else 0:.1f}MiB")

    # ---------------------------------------------------------------- run

    async def run(self) -> None:
        a = self.args
        d = a.duration
        log(f"server 127.0.0.1:{self.port} pid={a.server_pid} duration={d}s churners={a.churners} "
            f"healthy={a.healthy}+2 storm={a.storm_size}")
        status, _ = await http_request(self.port, "GET", "/healthz")
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
        await asyncio.gather(asyncio.wait_for(self.prefill(), max(10.0, 0.1 * d)),
                             asyncio.wait_for(self.prefill_big(), 60.0))
        await asyncio.wait_for(self.start_healthy(), 30.0)
        self.storm = [StormClient(self, f"storm{i}", self.room_storm) for i in range(a.storm_size)]
        sem = asyncio.Semaphore(50)

        async def start_storm(s):
            async with sem:
                await s.start()
        await asyncio.wait_for(asyncio.gather(*(start_storm(s) for s in self.storm)), 60.0)
        log(f"setup done: healthy={len(self.healthy)} storm={len(self.storm)} clients={self.stats.live_clients}")

        # The traffic ends a few seconds before the deadline so the last messages drain.
        traffic_end = self.deadline - min(5.0, 0.05 * d)
        ramp = a.ramp if a.ramp is not None else min(max(2.0, 0.06 * d), 30.0)
        slots = [asyncio.create_task(self.churner_slot(i, ramp * i / max(1, a.churners))) for i in range(a.churners)]
        senders = [asyncio.create_task(h.run_sender(traffic_end)) for h in self.healthy]
        background = [
            asyncio.create_task(self.busy_pump_loop(traffic_end)),
            asyncio.create_task(self.monitor(self.deadline)),
            asyncio.create_task(self.lag_probe(self.deadline)),
            asyncio.create_task(self.take_baseline(self.t0 + max(a.warmup * d, ramp + 2.0), self.t0 + 0.3 * d)),
            asyncio.create_task(self.storm_loop(self.t0 + max(a.warmup * d, ramp + 2.0) + 3.0, traffic_end)),
        ]
        await asyncio.sleep(max(0.0, traffic_end - time.monotonic()))
        await asyncio.gather(*senders, return_exceptions=True)
        # wait out a storm in progress (bounded), then stop the churn
        storm_wait_end = time.monotonic() + 25.0
        while self.storm_running and time.monotonic() < storm_wait_end:
            await asyncio.sleep(0.2)
        self.churn_stop.set()
        log("churn stopping")
        await asyncio.sleep(max(0.0, min(3.0, self.deadline - time.monotonic())))
        for t in slots + background:
            t.cancel()
        await asyncio.gather(*slots, *background, return_exceptions=True)
        if self.rss_baseline is None:
            self.rss_baseline = self.rss()
            self.stats.notes.append("baseline taken late")
        # drain the last messages, then everyone leaves
        await asyncio.sleep(2.0)
        self.verify_healthy()
        self.verify_resends()
        keep = {id(h.client) for h in self.healthy} | {id(s.client) for s in self.storm if s.client}
        for c in list(self.open_clients):  # what is left of the churners just drops
            if id(c) not in keep:
                c.abort()
        await self.settle_rooms()
        closes = [h.client.close() for h in self.healthy] + [s.client.close() for s in self.storm if s.client]
        await asyncio.gather(*closes, return_exceptions=True)
        for c in list(self.open_clients):
            c.abort()
        await asyncio.sleep(0.2)
        # the hub's live connection count must return to 0
        wait_end = time.monotonic() + a.live_wait
        live, src = await self.live_count()
        while time.monotonic() < wait_end and (live is None or live > 0):
            await asyncio.sleep(0.5)
            live, src = await self.live_count()
        self.final_live, self.final_live_source = live, src
        await self.finish_hostile()
        text = await self.metrics()
        if text is not None:
            v = self.metric_value(text, "switchboard_connections_closed_total", 'code="4008"')
            self.server_4008 = int(v) if v is not None else 0
        if not self.server_alive():
            self.failures.append("server process died")
        await asyncio.sleep(a.rss_settle)
        self.rss_final = self.rss()

    async def rooms_gauge(self) -> int | None:
        text = await self.metrics()
        v = self.metric_value(text, "switchboard_rooms") if text is not None else None
        return int(v) if v is not None else None

    async def settle_rooms(self) -> None:
        """With only the healthy and storm clients left, the hub must hold just their rooms:
        the room churners' rooms (and every room emptied by a churner) are freed."""
        expected = len({r for h in self.healthy for r in h.rooms} | ({self.room_storm} if self.storm else set()))
        end = time.monotonic() + 10.0
        rooms = await self.rooms_gauge()
        while rooms is not None and rooms != expected and time.monotonic() < end:
            await asyncio.sleep(0.5)
            rooms = await self.rooms_gauge()
        self.rooms_with_healthy, self.rooms_expected = rooms, expected

    async def finish_hostile(self) -> None:
        """After everyone left: no room left in the hub, and the closed-connections counter
        holds a bounded number of series however many close codes clients chose."""
        self.rooms_final = await self.rooms_gauge()
        text = await self.metrics()
        if text is not None:
            self.close_series = sum(1 for line in text.splitlines()
                                    if line.startswith("switchboard_connections_closed_total{"))

    def verify_resends(self) -> None:
        """Each acked resend is one message: every healthy member present before it holds its
        text exactly once, at the acked seq."""
        for room, seq, user, text in self.resent:
            for m in self.healthy:
                t = m.tracks.get(room)
                if t is None or seq <= t.join_seq or seq > t.last:
                    continue
                copies = [s for s, got in t.texts.items() if got == (user, text)]
                if copies != [seq]:
                    self.stats.resend_bad["delivered_" + ("twice" if len(copies) > 1 else "not_at_seq")] += 1

    # ---------------------------------------------------------------- verdict

    def verify_healthy(self) -> None:
        """Counts lost / duplicated / reordered deliveries for the healthy clients."""
        final_seq: dict[str, int] = {}
        for h in self.healthy:
            for room, seq, _ in h.sent:
                final_seq[room] = max(final_seq.get(room, 0), seq)
            for room, t in h.tracks.items():
                final_seq[room] = max(final_seq.get(room, 0), t.last)
        lost = dup = reordered = 0
        for h in self.healthy:
            if h.client.closed.is_set():
                self.stats.healthy_unexpected_closes.append(f"{h.user}:{h.client.close_rcvd_code}")
            for room in h.rooms:
                t = h.tracks.get(room)
                if t is None:
                    self.stats.notes.append(f"{h.user} never joined {room}")
                    continue
                counts = Counter(t.seqs)
                expected = range(t.join_seq + 1, final_seq.get(room, 0) + 1)
                lost += sum(1 for s in expected if s not in counts)
                dup += sum(c - 1 for c in counts.values() if c > 1)
                dup += sum(c for s, c in counts.items() if s <= t.join_seq)
                prev = t.join_seq
                for s in t.seqs:
                    if s < prev:
                        reordered += 1
                    prev = max(prev, s)
        # exactly-once per healthy message: by content, for every member present from before it
        sent = delivered = expected_deliveries = mismatched = 0
        for h in self.healthy:
            for room, seq, text in h.sent:
                sent += 1
                for m in self.healthy:
                    t = m.tracks.get(room)
                    if t is None or seq <= t.join_seq:
                        continue
                    expected_deliveries += 1
                    got = t.texts.get(seq)
                    if got is None:
                        continue
                    if got == (h.user, text):  # text is a hash here
                        delivered += 1
                    else:
                        mismatched += 1
        self.healthy_result = dict(sent=sent, delivered=delivered, expected=expected_deliveries, lost=lost,
                                   dup=dup, reordered=reordered, mismatched=mismatched,
                                   missing_by_content=expected_deliveries - delivered - mismatched)
        # recovered history must hold what the storm pump sent at those seqs
        truth = {seq: text for room, seq, text in self.storm_pump.sent}
        bad_hist = sum(1 for s in self.storm for seq, text in s.histories if seq in truth and truth[seq] != text)
        self.stats.storm_stream_errors = sum(s.stream_errors for s in self.storm) + bad_hist

    def hostile_failures(self) -> list[str]:
        a, s = self.args, self.stats
        fails = []
        ran = dict(pingflood=s.pingflood_started, roomchurn=s.roomchurn_rooms, flood=s.flood_started,
                   polite=s.polite_started, resend=s.resend_started, bighistory=s.big_started,
                   labelclose=s.labelclose_done, origin=s.origin_tried)
        fails += [f"no_{name}" for name, n in ran.items() if a.hostile_slots.get(name, 0) > 0 and n == 0]
        counted = lambda c: "/".join(f"{k}={v}" for k, v in c.most_common(3))  # noqa: E731
        errors = Counter({k: v for k, v in s.churner_errors.items() if k.split("_", 1)[0] in HOSTILE_BEHAVIOURS})
        if errors:
            fails.append("hostile_errors:" + counted(errors))
        if s.pingflood_not_dropped:
            fails.append(f"pingflood_not_dropped_within_{a.pingflood_max:.0f}s={s.pingflood_not_dropped}")
        if s.roomchurn_errors:
            fails.append("roomchurn_errors:" + counted(s.roomchurn_errors))
        if a.hostile_slots.get("roomchurn", 0) > 0:
            if self.rooms_with_healthy is None:
                fails.append("metrics_gauge_switchboard_rooms_missing")
            elif self.rooms_with_healthy != self.rooms_expected:
                fails.append(f"rooms_not_freed({self.rooms_with_healthy}/{self.rooms_expected})")
            if self.rooms_final not in (None, 0):
                fails.append(f"rooms_left_after_everyone_left({self.rooms_final})")
        if s.flood_bad:
            fails.append("flood_not_closed_4029:" + counted(s.flood_bad))
        if s.polite_closed:
            fails.append("polite_pipeliner_closed:" + counted(s.polite_closed))
        if s.resend_bad:
            fails.append("idempotent_resend:" + counted(s.resend_bad))
        if s.big_bad:
            fails.append("big_history:" + counted(s.big_bad))
        if s.big_started and not s.big_paged:
            fails.append("big_history_never_paged")
        if a.hostile_slots.get("labelclose", 0) > 0 and (self.close_series or 0) > a.max_close_series:
            fails.append(f"close_code_series_{self.close_series}_over_{a.max_close_series}")
        if s.origin_bad:
            fails.append("foreign_origin_not_403:" + counted(s.origin_bad))
        return fails

    def hostile_summary(self) -> str:
        s = self.stats
        return (
            f"pingflood_dropped={s.pingflood_dropped}/{s.pingflood_dropped + s.pingflood_not_dropped}"
            f"(max={s.pingflood_max_drop_s:.1f}s) roomchurn_rooms={s.roomchurn_rooms} "
            f"rooms_at_end={self.rooms_with_healthy}/{self.rooms_expected},final={self.rooms_final} "
            f"flood_4029={s.flood_4029}/{s.flood_started}(max={s.flood_max_close_s:.1f}s) "
            f"polite_kept={s.polite_kept}/{s.polite_started}(acked={s.polite_acked},rate_limited={s.polite_rate_limited}) "
            f"resend_same_seq={s.resend_same_seq}/{s.resend_started} big_paged={s.big_paged}/{s.big_started}(ok={s.big_ok}) "
            f"close_series={self.close_series}(max={self.args.max_close_series}) "
            f"foreign_origin_403={s.origin_403}/{s.origin_tried}"
        )

    def verdict(self, elapsed: float) -> tuple[bool, str]:
        a, s = self.args, self.stats
        hr = getattr(self, "healthy_result", None) or dict(sent=0, delivered=0, expected=0, lost=0, dup=0,
                                                          reordered=0, mismatched=0, missing_by_content=0)
        fails = list(self.failures)
        if hr["lost"] or hr["missing_by_content"]:
            fails.append("healthy_lost")
        if hr["dup"]:
            fails.append("healthy_duplicated")
        if hr["reordered"]:
            fails.append("healthy_reordered")
        if hr["mismatched"]:
            fails.append("healthy_content_mismatch")
        if hr["sent"] == 0:
            fails.append("no_healthy_messages")
        if s.healthy_send_errors:
            fails.append("healthy_send_errors:" + "/".join(f"{k}={v}" for k, v in s.healthy_send_errors.most_common(3)))
        if s.healthy_unexpected_closes:
            fails.append("healthy_disconnected:" + "/".join(s.healthy_unexpected_closes[:5]))
        if s.frozen_not_dropped:
            fails.append("frozen_not_dropped")
        if s.recoveries_failed:
            fails.append("recovery_failed:" + "/".join(f"{k}={v}" for k, v in s.recovery_failures.most_common(4)))
        if s.storm_stream_errors:
            fails.append("storm_stream_errors")
        if s.storms == 0:
            fails.append("no_storm")
        if s.peak_clients < a.min_peak:
            fails.append(f"peak_below_{a.min_peak}")
        if s.slow_other_close:
            fails.append("slow_consumer_bad_close:" + "/".join(f"{k}={v}" for k, v in s.slow_other_close.items()))
        if s.slow_started and not (s.slow_4008 or self.server_4008):
            fails.append("no_4008_seen")
        fails += self.hostile_failures()
        conn_err = sum(s.connect_errors.values())
        if s.connects and conn_err > a.max_connect_error_rate * (s.connects + conn_err):
            fails.append("connect_errors:" + "/".join(f"{k}={v}" for k, v in s.connect_errors.most_common(3)))
        if not self.gauge_seen and not a.allow_missing_gauge:
            fails.append("metrics_gauge_switchboard_connections_missing")
        if self.final_live is None or self.final_live != 0:
            fails.append(f"live_not_zero({self.final_live},{self.final_live_source})")
        ratio = None
        if self.rss_baseline and self.rss_final:
            ratio = self.rss_final / self.rss_baseline
            if ratio > 1.0 + a.rss_tolerance:
                fails.append(f"RSS_ABOVE_BASELINE_BY_{(ratio - 1) * 100:.1f}%")
        elif a.server_pid:
            fails.append("rss_unreadable")
        mib = (lambda v: f"{v / 2**20:.1f}" if v else "n/a")
        ok = not fails
        line = (
            f"soak: {'PASS' if ok else 'FAIL'} duration={a.duration:.0f}s elapsed={elapsed:.0f}s connects={s.connects} peak_concurrent={s.peak_clients} "
            f"healthy_sent={hr['sent']} delivered={hr['delivered']}/{hr['expected']} lost={hr['lost']} "
            f"duplicated={hr['dup']} reordered={hr['reordered']} "
            f"drops_4008={s.slow_4008}(server_4008={self.server_4008 if self.server_4008 is not None else 'n/a'}) "
            f"slow_dropped_no_frame={s.slow_dropped_no_frame} "
            f"frozen_dropped={s.frozen_dropped}/{s.frozen_dropped + s.frozen_not_dropped} "
            f"{self.hostile_summary()} "
            f"recoveries_ok={s.recoveries_ok} recoveries_failed={s.recoveries_failed} storms={s.storms} "
            f"abrupt_drops={s.drops} normal_closes={s.normal_close_ok} connect_errors={conn_err} "
            f"live_final={self.final_live}({self.final_live_source}) "
            f"rss_baseline={mib(self.rss_baseline)}MiB rss_final={mib(self.rss_final)}MiB "
            f"rss_ratio={f'{ratio:.3f}' if ratio else 'n/a'}"
            + (f" failures={','.join(fails)}" if fails else "")
        )
        return ok, line


# --------------------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    p.add_argument("--server-pid", type=int, default=None, help="server pid, for RSS (/proc/PID/status)")
    p.add_argument("--duration", type=float, default=600.0, help="seconds of churn (default 600)")
    p.add_argument("--churners", type=int, default=1000, help="concurrent churning connections (default 1000)")
    p.add_argument("--healthy", type=int, default=20, help="healthy checking clients, besides the 2 pumps (default 20)")
    p.add_argument("--healthy-rate", type=float, default=1.0, help="messages/s each healthy client sends (default 1)")
    p.add_argument("--storm-size", type=int, default=200, help="clients in each reconnect storm (default 200)")
    p.add_argument("--storm-interval", type=float, default=15.0, help="seconds between storms (default 15)")
    p.add_argument("--storm-gap", type=float, default=1.0, help="seconds storm clients stay away (default 1)")
    p.add_argument("--storm-rate", type=float, default=10.0, help="messages/s into the storm room (default 10)")
    p.add_argument("--busy-rate", type=float, default=100.0, help="messages/s into the busy room (default 100)")
    p.add_argument("--busy-message-size", type=int, default=200, help="characters per busy-room message (default 200)")
    p.add_argument("--churn-lifetime", type=lambda v: tuple(float(x) for x in v.split(":")), default=(3.0, 18.0),
                   help="MIN:MAX seconds a normal/drop churner stays (default 3:18)")
    p.add_argument("--frozen-share", type=float, default=0.10)
    p.add_argument("--slow-share", type=float, default=0.04)
    p.add_argument("--drop-share", type=float, default=0.43, help="the rest closes normally (1000)")
    p.add_argument("--slow-max", type=float, default=40.0, help="seconds a slow consumer waits to be dropped (default 40)")
    p.add_argument("--hostile-slots", type=hostile_slots, default=hostile_slots(DEFAULT_HOSTILE_SLOTS),
                   help=f"churner slots given to each hostile behaviour, NAME=N,... (default {DEFAULT_HOSTILE_SLOTS})")
    p.add_argument("--hostile-pause", type=lambda v: tuple(float(x) for x in v.split(":")), default=(1.0, 3.0),
                   help="MIN:MAX seconds a hostile slot waits between runs (default 1:3)")
    p.add_argument("--pingflood-max", type=float, default=12.0,
                   help="seconds within which a ping flooder must be dropped (default 12: ping timeout + interval + close timeout + slack)")
    p.add_argument("--roomchurn-rooms", type=int, default=10, help="unique rooms a room churner goes through per run (default 10)")
    p.add_argument("--rate-limit", type=float, default=200.0, help="the server's --rate-limit (events/s; soak.sh leaves its default)")
    p.add_argument("--flood-factor", type=float, default=4.0, help="a flooder sends this many times the rate limit (default 4)")
    p.add_argument("--flood-close-max", type=float, default=10.0,
                   help="seconds within which a flooder must get 4029 (default 10: 1 s by the rule at 4 x the limit, "
                        "the rest for a loaded machine, where the close waits behind hundreds of replies)")
    p.add_argument("--polite-stint", type=float, default=15.0, help="seconds a polite pipeliner sends near the limit (default 15)")
    p.add_argument("--big-messages", type=int, default=60,
                   help="messages of 4,096 U+0001 in the big room (default 60: 1.4 MiB escaped, over a 1 MiB queue)")
    p.add_argument("--labelclose-conns", type=int, default=4, help="connections a close-code chooser closes per run (default 4)")
    p.add_argument("--max-close-series", type=int, default=16,
                   help="switchboard_connections_closed_total series allowed at the end (default 16: the server's 12 "
                        "known close codes, `other`, and room to spare; one per client-chosen code would exceed it)")
    p.add_argument("--ramp", type=float, default=None, help="seconds to bring the churners up (default 6%% of the run)")
    p.add_argument("--warmup", type=float, default=0.10, help="fraction of the run before the RSS baseline (default 0.1)")
    p.add_argument("--ping-interval", type=float, default=2.0, help="the server's --ping-interval")
    p.add_argument("--ping-timeout", type=float, default=4.0, help="the server's --ping-timeout")
    p.add_argument("--close-timeout", type=float, default=2.0, help="the server's --close-timeout")
    p.add_argument("--max-queued-messages", type=int, default=200, help="the server's --max-queued-messages")
    p.add_argument("--room-retention", type=int, default=200, help="the server's --room-retention (rooms are prefilled to it)")
    p.add_argument("--rss-tolerance", type=float, default=0.10, help="allowed RSS growth over the warm baseline (default 0.10)")
    p.add_argument("--rss-settle", type=float, default=5.0, help="seconds to wait at 0 connections before the final RSS")
    p.add_argument("--live-wait", type=float, default=30.0, help="seconds to wait for the live count to reach 0")
    p.add_argument("--min-peak", type=int, default=1000, help="fail if fewer concurrent clients were reached (default 1000)")
    p.add_argument("--max-connect-error-rate", type=float, default=0.01, help="tolerated failed connects (default 1%%)")
    p.add_argument("--allow-missing-gauge", action="store_true",
                   help="count server-side TCP connections when /metrics lacks switchboard_connections, without failing")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    if a.duration < 20:
        p.error("--duration must be at least 20 seconds")
    return a


DEFAULT_HOSTILE_SLOTS = "pingflood=1,roomchurn=1,flood=1,polite=1,resend=2,bighistory=1,labelclose=1,origin=1"


def hostile_slots(spec: str) -> dict[str, int]:
    slots = {}
    for item in filter(None, spec.split(",")):
        name, _, count = item.partition("=")
        if name not in HOSTILE_BEHAVIOURS or not count.isdigit():
            raise argparse.ArgumentTypeError(f"{item!r}: expected NAME=N with NAME one of {', '.join(HOSTILE_BEHAVIOURS)}")
        slots[name] = int(count)
    return slots


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    seed = args.seed if args.seed is not None else int(time.time())
    random.seed(seed)
    raise_nofile()
    global_timeout = args.duration + 90.0

    def watchdog():
        print(f"soak: FAIL duration={time.monotonic() - START:.0f}s failures=global_timeout_{global_timeout:.0f}s "
              f"(the soak did not finish; the server may hang)", flush=True)
        os._exit(1)

    timer = threading.Timer(global_timeout + 5.0, watchdog)
    timer.daemon = True
    timer.start()

    soak = None
    error = None

    async def amain():
        nonlocal soak
        soak = Soak(args)
        await asyncio.wait_for(soak.run(), global_timeout)

    try:
        asyncio.run(amain())
    except asyncio.TimeoutError:
        error = f"global_timeout_{global_timeout:.0f}s"
    except Exception as e:  # noqa: BLE001
        error = f"{type(e).__name__}:{e}".replace(" ", "_")[:200]
    timer.cancel()
    elapsed = time.monotonic() - START
    if soak is None:
        print(f"soak: FAIL duration={elapsed:.0f}s failures={error}", flush=True)
        return 1
    if error:
        soak.failures.append(error)
    ok, line = soak.verdict(elapsed)
    s = soak.stats
    log(f"seed={seed} behaviours={dict(s.behaviours)} connect_errors={dict(s.connect_errors)} "
        f"churner_errors={dict(s.churner_errors)} normal_close_bad={dict(s.normal_close_bad)} "
        f"slow: started={s.slow_started} 4008={s.slow_4008} no_frame={s.slow_dropped_no_frame} "
        f"user_left_seen={s.slow_left_seen} run_ended={s.slow_run_ended} pings={s.slow_pings} ping_errors={dict(s.slow_ping_errors)} "
        f"other={dict(s.slow_other_close)} survived={s.slow_survived} "
        f"healthy_send_errors={dict(s.healthy_send_errors)} healthy={getattr(soak, 'healthy_result', None)} "
        f"notes={s.notes[:10]}")
    log(f"hostile: pingflood pings={s.pingflood_pings} roomchurn_errors={dict(s.roomchurn_errors)} "
        f"flood_bad={dict(s.flood_bad)} polite_closed={dict(s.polite_closed)} resend_bad={dict(s.resend_bad)} "
        f"big_bad={dict(s.big_bad)} origin_bad={dict(s.origin_bad)}")
    if soak.rss_baseline and soak.rss_final and s.connects > soak.baseline_connects:
        log(f"rss growth after the baseline: {(soak.rss_final - soak.rss_baseline) / 1024:.0f} KiB over "
            f"{s.connects - soak.baseline_connects} connects "
            f"({(soak.rss_final - soak.rss_baseline) / (s.connects - soak.baseline_connects):.0f} B per connect)")
    print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
