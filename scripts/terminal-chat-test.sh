#!/usr/bin/env bash
# Two people chatting through a real server with `switchboard chat`, driven as a person
# would: tmux types into each terminal (send-keys) and reads what it shows (capture-pane).
# Covers sending and receiving with time and sender, presence, /who, /rooms, /join, /leave,
# /history, a server restart (status line, reconnect, catch-up) and /quit.
#
#   SWITCHBOARD_BIN=.build/debug/switchboard scripts/terminal-chat-test.sh
#
# Screens of every check go to ${ARTIFACTS:-/tmp}/terminal-chat/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${SWITCHBOARD_BIN:-$repo/.build/debug/switchboard}
out=${ARTIFACTS:-/tmp}/terminal-chat
mkdir -p "$out"
rm -f "$out"/fail-*.txt

source "$repo/scripts/require-debian-packages.sh"
command -v tmux >/dev/null || install_missing terminal-chat tmux

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
session="sbchat-$$"
server_pid=""
start_server() {
  "$bin" serve --host 127.0.0.1 --port "$port" --log-level warning >>"$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "terminal-chat: server did not start" >&2
  exit 1
}
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

passed=0
failed=0
# expect PANE TEXT [SECONDS]: wait until the pane shows TEXT (a fixed string).
expect() {
  local pane=$1 text=$2 deadline=$((SECONDS + ${3:-10}))
  while [ $SECONDS -lt $deadline ]; do
    if tmux capture-pane -p -t "$session:$pane" | grep -qF -- "$text"; then
      passed=$((passed + 1))
      return 0
    fi
    sleep 0.1
  done
  failed=$((failed + 1))
  echo "FAIL: $pane never showed: $text" >&2
  tmux capture-pane -p -t "$session:$pane" >"$out/fail-$pane-$failed.txt"
  for other in alice bob; do tmux capture-pane -p -t "$session:$other" >"$out/fail-$failed-$other.txt" 2>/dev/null || true; done
  cat "$out/fail-$pane-$failed.txt" >&2
  return 0
}
type_line() { tmux send-keys -t "$session:$1" -l -- "$2"; tmux send-keys -t "$session:$1" Enter; }

start_server
tmux new-session -d -s "$session" -n alice -x 160 -y 50 "'$bin' chat --url $url --user alice --room lobby; sleep 30"
expect alice "#lobby * joined; 1 here: alice"
tmux new-window -t "$session" -n bob "'$bin' chat --url $url --user bob --room lobby; sleep 30"
expect bob "#lobby * joined; 2 here: alice, bob"
expect alice "#lobby * bob joined"

type_line alice "hello bob"
expect bob "#lobby <alice> hello bob"
type_line bob "hi alice"
expect alice "#lobby <bob> hi alice"
# time first: HH:MM:SS before the room
tmux capture-pane -p -t "$session:bob" | grep -qE '^[0-9]{2}:[0-9]{2}:[0-9]{2} #lobby <alice> hello bob' \
  && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: no time before the message" >&2; }

type_line bob "/who"
expect bob "#lobby * 2 here: alice, bob"
type_line bob "/join side"
expect bob "#side * joined; 1 here: bob"
type_line bob "/rooms"
expect bob "rooms: lobby *side"
type_line alice "/join side"
expect bob "#side * alice joined"
type_line alice "over here"
expect bob "#side <alice> over here"
type_line bob "/leave side"
expect bob "#side * left"
expect alice "#side * bob left"
type_line bob "/history 5"
expect bob "#lobby <bob> hi alice"
type_line bob "/nonsense"
expect bob "!! unknown command /nonsense"
type_line bob "message to a room I left"
# bob's current room is lobby again after leaving side
expect alice "#lobby <bob> message to a room I left"

# A server restart: both see the status line, reconnect, and chat again.
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true
expect alice "reconnecting (attempt"
expect bob "reconnecting (attempt"
start_server
expect alice "-- connected" 15
# An in-memory server lost the rooms' streams: both are told, once rejoined.
expect alice "#side restarted on the server: earlier messages may be missing" 15
expect bob "#lobby restarted on the server: earlier messages may be missing" 15
type_line alice "/join lobby"  # alice's current room was side
expect alice "#lobby * joined; 2 here: alice, bob"
type_line alice "after the restart"
expect bob "#lobby <alice> after the restart" 15

tmux capture-pane -p -t "$session:alice" >"$out/alice.txt"
tmux capture-pane -p -t "$session:bob" >"$out/bob.txt"
type_line alice "/quit"
type_line bob "/quit"
sleep 1
# /quit ends the chat process: only the pane's `sleep` remains.
if pgrep -f -- "^$bin chat --url $url" >/dev/null; then
  failed=$((failed + 1)); echo "FAIL: /quit did not end the chat processes" >&2
else
  passed=$((passed + 1))
fi

# Piped, the same client writes plain lines: no escape codes.
printf '/who\n/quit\n' | "$bin" chat --url "$url" --user carol --room lobby >"$out/piped.txt" 2>&1 || true
if grep -q $'\x1b' "$out/piped.txt"; then
  failed=$((failed + 1)); echo "FAIL: escape codes in piped output" >&2
elif grep -qF "#lobby * joined" "$out/piped.txt"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: piped client showed nothing" >&2; cat "$out/piped.txt" >&2
fi

echo "terminal-chat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
