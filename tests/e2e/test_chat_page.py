"""End-to-end tests of the browser chat page against the real server binary."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

XSS = "<script>window.__pwned=1</script><b>bold</b>"


def uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def pair(browser_factory):
    """alice and bob, both signed in and connected, both in lobby, seeing each other."""
    alice = browser_factory("alice")
    bob = browser_factory("bob")
    alice.login("alice")
    bob.login("bob", "any-password")
    for page in (alice, bob):
        page.wait_connected()
        page.wait(lambda p=page: p.active_room() == "lobby", message="lobby is not the active room")
    alice.wait(lambda: {"alice", "bob"} <= alice.members(), message="alice does not see bob")
    bob.wait(lambda: {"alice", "bob"} <= bob.members(), message="bob does not see alice")
    return alice, bob


def test_login_presence_and_message(pair):
    alice, bob = pair
    alice.screenshot("01-logged-in")
    bob.screenshot("01-logged-in")
    assert alice.rooms() == ["lobby"]

    text = f"hello bob {uid()}"
    alice.send(text)
    room, seq, sender, _ = bob.wait_message(text)
    assert (room, sender) == ("lobby", "alice")
    assert seq and int(seq) >= 1
    # alice sees her own message (the server echoes it), styled as her own
    alice.wait_message(text, "alice")
    own = alice.qa(f'#messages .message[data-seq="{seq}"][data-room="lobby"]')
    assert own and "own" in own[0].get_attribute("class").split()
    other = bob.qa(f'#messages .message[data-seq="{seq}"][data-room="lobby"]')
    assert other and "own" not in other[0].get_attribute("class").split()
    # a time from `sent` is shown
    assert other[0].find_element(By.CSS_SELECTOR, "time").get_attribute("datetime")

    reply = f"hi alice {uid()}"
    bob.send(reply)
    alice.wait_message(reply, "bob")
    alice.screenshot("02-message")
    bob.screenshot("02-message")


def test_message_text_is_never_html(pair):
    alice, bob = pair
    alice.send(XSS)
    bob.wait_message(XSS, "alice")
    alice.wait_message(XSS, "alice")
    bob.screenshot("03-html-as-text")
    for page in (alice, bob):
        texts = [t for _, _, _, t in page.messages()]
        assert XSS in texts
        assert page.js("return typeof window.__pwned") == "undefined"
        assert page.qa("#messages b") == []
        assert page.qa("#messages script") == []

    other = '<img src=x onerror="window.__pwned=2">&amp; "quotes"'
    alice.send(other)
    bob.wait_message(other, "alice")
    assert bob.qa("#messages img") == []
    assert bob.js("return typeof window.__pwned") == "undefined"


def test_multiline_unicode_and_length_limit(pair):
    alice, bob = pair
    text = f"two lines {uid()}\nsecond line, ünïcødé ✓ and 🎉"
    alice.send(text)
    bob.wait_message(text, "alice")

    # Shift+Enter makes a new line instead of sending
    box = alice.q("#message-input")
    box.send_keys("line one")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("line two")
    assert box.get_attribute("value") == "line one\nline two"
    box.send_keys(Keys.ENTER)
    bob.wait_message("line one\nline two", "alice")

    # at most 4096 characters: 4097 is refused by the page, 4096 goes through
    too_long = "a" * 4097
    alice.js("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
             box, too_long)
    alice.wait(lambda: not alice.q("#send-button").is_enabled(), message="send enabled for 4097 chars")
    box.send_keys(Keys.ENTER)
    alice.wait(lambda: alice.q("#banner").is_displayed(), message="no banner for a too long message")
    assert alice.q("#message-input").get_attribute("value") == too_long
    longest = "b" * 4095 + "c"
    alice.js("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
             box, longest)
    box.send_keys(Keys.ENTER)
    bob.wait_message(longest, "alice")
    assert too_long not in [t for _, _, _, t in bob.messages()]


def test_second_room_and_leave(pair):
    alice, bob = pair
    room = f"e2e-{uid()}"
    alice.join(room)
    alice.wait(lambda: alice.rooms() == ["lobby", room], message="second room not listed")
    alice.wait(lambda: alice.active_room() == room, message="joined room not active")
    alice.wait(lambda: alice.members() == {"alice"}, message="members of the new room")

    bob.join(room)
    bob.wait(lambda: bob.active_room() == room, message="bob's joined room not active")
    alice.wait(lambda: alice.members() == {"alice", "bob"}, message="alice does not see bob join")

    text = f"in {room}"
    alice.send(text)
    r, _, sender, _ = bob.wait_message(text)
    assert (r, sender) == (room, "alice")
    alice.screenshot("04-second-room")
    bob.screenshot("04-second-room")

    # only the active room's messages are shown; lobby still works
    bob.activate("lobby")
    bob.wait(lambda: all(m[0] == "lobby" for m in bob.messages()), message="other room's messages shown")
    assert text not in [t for _, _, _, t in bob.messages()]
    # a message in the room bob is not looking at shows as unread there
    alice.send(f"unread for bob {uid()}")
    bob.wait(lambda: bob.qa(f'#rooms [data-room="{room}"] .badge'), message="no unread badge")
    bob.screenshot("04-unread-badge")
    lobby_text = f"lobby while in two rooms {uid()}"
    alice.activate("lobby")
    alice.send(lobby_text)
    bob.wait_message(lobby_text, "alice")

    # bob leaves the room: it goes from his list, alice sees him go
    bob.q(f'#rooms [data-room="{room}"] .leave').click()
    bob.wait(lambda: bob.rooms() == ["lobby"], message="left room still listed")
    alice.activate(room)
    alice.wait(lambda: alice.members() == {"alice"}, message="alice still sees bob in the left room")


def test_history_on_join(pair, browser_factory):
    alice, _ = pair
    text = f"before carol came {uid()}"
    alice.send(text)
    alice.wait_message(text, "alice")
    carol = browser_factory("carol")
    carol.login("carol")
    carol.wait_connected()
    carol.wait_message(text, "alice")
    alice.wait(lambda: "carol" in alice.members(), message="alice does not see carol")


def test_login_error_shows_server_text(browser_factory, running_server):
    req = urllib.request.Request(running_server.url + "/login", method="POST",
                                 data=json.dumps({"username": "not a valid name!", "password": ""}).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code in (400, 401)
    expected = json.loads(err.value.read())["error"]

    page = browser_factory("mallory")
    page.login("not a valid name!")
    page.wait(lambda: page.q("#login-error").is_displayed(), message="no login error shown")
    assert page.q("#login-error").text == expected
    assert page.q("#login-button").is_displayed()
    page.screenshot("05-login-error")


def test_reconnect_dedupes_and_recovers(pair):
    """A dropped connection reconnects with a new ticket and join since=<last seq>:
    a message sent meanwhile shows up once and nothing is shown twice."""
    alice, bob = pair
    first = f"before the drop {uid()}"
    alice.send(first)
    bob.wait_message(first, "alice")

    assert bob.drop_connection() == 1
    bob.wait(lambda: "reconnecting" in bob.status(), message="bob never showed reconnecting")
    missed = f"while bob was away {uid()}"
    alice.send(missed)
    alice.wait_message(missed, "alice")
    bob.wait_connected()
    bob.wait_message(missed, "alice")

    texts = [t for _, _, _, t in bob.messages()]
    assert texts.count(first) == 1 and texts.count(missed) == 1
    seqs = [s for r, s, _, _ in bob.messages() if r == "lobby"]
    assert len(seqs) == len(set(seqs)), f"duplicate seqs shown: {seqs}"
    assert bob.js("return window.__sbSockets.length") >= 2


def test_server_restart(pair, server):
    alice, bob = pair
    before = f"before restart {uid()}"
    alice.send(before)
    bob.wait_message(before, "alice")

    server.stop()
    for page in (alice, bob):
        page.wait(lambda p=page: "reconnecting" in p.status(), message="never showed reconnecting")
        page.screenshot("06-reconnecting")

    server.start()  # same port
    for page in (alice, bob):
        page.wait_connected(timeout=30)
        page.wait(lambda p=page: {"alice", "bob"} <= p.members(), message="members after restart")
    alice.screenshot("07-reconnected")

    after = f"after restart {uid()}"
    alice.send(after)
    bob.wait_message(after, "alice")
    alice.wait_message(after, "alice")
    for page in (alice, bob):
        texts = [t for _, _, _, t in page.messages()]
        assert texts.count(before) == 1, f"{page.name}: message from before the restart shown {texts.count(before)} times"
        assert texts.count(after) == 1
        assert re.search(r"\bconnected\b", page.status())
        # the room's epoch changed: the page marks the gap between the two lives
        page.wait(lambda p=page: p.qa('#messages .note[data-kind="epoch"]'), message="no epoch marker after the restart")
    bob.screenshot("08-after-restart")
    alice.screenshot("08-after-restart")


# Records every frame the page sends (window.__sbSent), across reconnects.
SEND_SPY = """
  if (!window.__sbSent) {
    window.__sbSent = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) { window.__sbSent.push(data); return send.call(this, data); };
  }
"""

# Sends arguments[0] messages "<arguments[1]><n> <filler>" to room arguments[2] on the
# page's open socket, straight through the wire (faster than typing them).
BULK_SEND = """
  const s = window.__sbSockets.filter((x) => x.readyState === 1).pop();
  for (let n = 1; n <= arguments[0]; n++) {
    s.send(JSON.stringify({ type: 'send_message',
      payload: { room: arguments[2], message: arguments[1] + n + ' ' + arguments[3] } }));
  }
"""

COUNT_PREFIX = """
  return [...document.querySelectorAll('#messages .message .text')]
    .filter((e) => e.textContent.startsWith(arguments[0])).length;
"""


def sent_events(page, type_: str) -> list[dict]:
    frames = page.js("return window.__sbSent || []")
    return [e for e in map(json.loads, frames) if e.get("type") == type_]


def test_resend_after_lost_ack(pair):
    """A message whose ack never arrived (the socket closed right after sending it) is
    sent again after the reconnect with the same idempotency_key, and shown once."""
    alice, bob = pair
    bob.js(SEND_SPY)
    text = f"lost ack {uid()}"
    bob.js("""
      const s = window.__sbSockets.filter((x) => x.readyState === 1).pop();
      const send = s.send.bind(s);
      s.send = (d) => { send(d); if (d.includes('"send_message"')) s.close(4000, 'test: lose the ack'); };
    """)
    bob.send(text)
    alice.wait_message(text, "bob")
    bob.wait_connected()
    bob.wait_message(text, "bob")
    bob.wait(lambda: len([e for e in sent_events(bob, "send_message") if e["payload"]["message"] == text]) == 2,
             message="the unacknowledged message was not sent again")
    sends = [e for e in sent_events(bob, "send_message") if e["payload"]["message"] == text]
    keys = {e["payload"].get("idempotency_key") for e in sends}
    assert len(keys) == 1 and None not in keys, f"resend used another key: {keys}"
    # a later message proves the resend delivered nothing new
    marker = f"after the resend {uid()}"
    alice.send(marker)
    for page in (alice, bob):
        page.wait_message(marker, "alice")
        texts = [t for _, _, _, t in page.messages()]
        assert texts.count(text) == 1, f"{page.name}: shown {texts.count(text)} times"
    bob.screenshot("09-resent-once")


def test_reconnect_pages_until_caught_up(pair):
    """More missed history than one join ack carries (100 messages of 4,000 U+0001,
    2.4 MB against a 1 MiB ack): the page pages with `history` until it has them all."""
    alice, bob = pair
    bob.js(SEND_SPY)
    # hold bob's next login until alice has filled the room
    bob.js("""
      const hold = new Promise((r) => { window.__release = r; });
      const fetch = window.fetch;
      window.fetch = async (...a) => { await hold; return fetch(...a); };
    """)
    assert bob.drop_connection() == 1
    bob.wait(lambda: "reconnecting" in bob.status(), message="bob never showed reconnecting")
    prefix = f"missed {uid()} #"
    alice.js(BULK_SEND, 100, prefix, "lobby", "\u0001" * 4000)
    alice.wait(lambda: alice.js(COUNT_PREFIX, prefix) == 100, timeout=60, message="alice did not see her 100 messages")
    bob.js("window.__release()")
    bob.wait_connected()
    bob.wait(lambda: bob.js(COUNT_PREFIX, prefix) == 100, timeout=60, message="bob did not catch up on all 100")
    join = [e for e in sent_events(bob, "join_room") if "since" in e["payload"]]
    assert join and isinstance(join[-1]["payload"].get("epoch"), str), "rejoin without since and epoch"
    pages = [e for e in sent_events(bob, "history") if "since" in e["payload"]]
    assert pages, "bob never paged with history"
    seqs = [int(s) for r, s, _, _ in bob.messages() if r == "lobby" and s]
    assert len(seqs) == len(set(seqs)), "duplicate seqs shown"
    assert seqs == sorted(seqs)
    bob.screenshot("10-caught-up")


def test_load_older_messages(pair, browser_factory):
    """A join shows the latest 50; scrolling to the top loads the older ones."""
    alice, _ = pair
    room = f"older-{uid()}"
    alice.join(room)
    alice.wait(lambda: alice.active_room() == room, message="room not active")
    prefix = f"old {uid()} #"
    alice.js(BULK_SEND, 80, prefix, room, "")
    alice.wait(lambda: alice.js(COUNT_PREFIX, prefix) == 80, message="alice did not see her 80 messages")

    carol = browser_factory("carol")
    carol.login("carol")
    carol.wait_connected()
    carol.join(room)
    carol.wait(lambda: carol.active_room() == room, message="room not active")
    carol.wait(lambda: carol.js(COUNT_PREFIX, prefix) == 50, message="carol did not get the latest 50")
    assert carol.qa("#load-older"), "no 'load older messages'"
    carol.screenshot("11-load-older")
    carol.js("document.getElementById('messages').scrollTop = 0")
    carol.wait(lambda: carol.js(COUNT_PREFIX, prefix) == 80, message="older messages not loaded")
    carol.wait(lambda: not carol.qa("#load-older"), message="'load older' still offered at the start of the room")
    seqs = [int(s) for r, s, _, _ in carol.messages() if r == room]
    assert seqs == list(range(1, 81))
    carol.screenshot("12-older-loaded")
