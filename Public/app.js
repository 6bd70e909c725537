// Switchboard browser client. Plain JS, no dependencies, no build step.
// Speaks the wire protocol in PROTOCOL.md: POST /login for a single-use ticket,
// then one WebSocket at /ws?ticket=T carrying JSON events.
//
// Safety rule: text that comes from the server or from other users is only ever
// put into the page with textContent / attributes, never parsed as HTML.
'use strict';

(() => {
  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const FIRST_ROOM = 'lobby';
  const MAX_MESSAGE_CHARS = 4096;       // "characters": counted as Unicode code points
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const BACKOFF_JITTER = 0.3;            // +-30 %
  const REQUEST_TIMEOUT_MS = 15000;
  const MAX_ITEMS_PER_ROOM = 2000;       // oldest messages are dropped from memory past this
  const PAGE_FORWARD = 100;              // history page after a reconnect (the most allowed)
  const PAGE_BACK = 50;                  // "load older messages"
  const BANNER_MS = 7000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    loginView: $('login-view'), loginForm: $('login-form'), username: $('username'),
    password: $('password'), loginButton: $('login-button'), loginError: $('login-error'),
    chatView: $('chat-view'), sidebar: $('sidebar'), sidebarOpen: $('sidebar-open'),
    sidebarClose: $('sidebar-close'), sidebarBackdrop: $('sidebar-backdrop'),
    joinForm: $('join-form'), roomInput: $('room-input'), rooms: $('rooms'),
    members: $('members'), memberCount: $('member-count'), meAvatar: $('me-avatar'),
    meName: $('me-name'), logout: $('logout-button'), roomTitle: $('room-title'),
    roomSubtitle: $('room-subtitle'), status: $('status'), banner: $('banner'),
    bannerText: $('banner-text'), bannerClose: $('banner-close'), messages: $('messages'),
    messagesEmpty: $('messages-empty'), composer: $('composer'), input: $('message-input'),
    charCount: $('char-count'), send: $('send-button'),
  };

  // ---- state -------------------------------------------------------------

  const state = {
    creds: null,          // {username, password}, kept in memory to log in again after a drop
    user: null,           // the username the server gave us
    ws: null,
    gen: 0,               // connection generation: events of an older socket are ignored
    connected: false,     // the socket is open
    signedIn: false,      // false after a deliberate sign-out
    attempt: 0,           // reconnect attempts since the last good connection
    timer: null,          // pending reconnect
    nextId: 1,
    pending: new Map(),   // request id -> {resolve, reject, timer}
    rooms: new Map(),     // name -> Room, in join order
    active: null,         // name of the room shown
    batching: false,      // adding many messages: render once at the end
  };

  // A room the user has joined (or wants to be in once connected).
  // items: messages and notes, sorted by (epoch, seq). epoch is a local counter
  // that grows whenever the server names a new life of the room (serverEpoch
  // changed: it restarted or evicted the room), so the same seq can appear
  // again without being taken for a duplicate.
  // unsent: idempotency key -> text of messages sent without an ack yet; they
  // are sent again, with the same key, after a reconnect.
  function newRoom(name) {
    return {
      name, members: new Set(), items: [], seen: new Set(), lastSeq: 0,
      epoch: 0, serverEpoch: null, synced: false, unread: 0,
      oldestSeq: null, olderExhausted: false, loadingOlder: false,
      resumeFrom: null,   // while paging after a rejoin: the last seq held without a gap
      unsent: new Map(),
    };
  }

  class RequestError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }

  // ---- small helpers -----------------------------------------------------

  function h(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function charCount(s) { let n = 0; for (const _ of s) n++; return n; } // code points

  function hueOf(name) {
    let x = 0;
    for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
    return x % 360;
  }

  function avatar(name, extraClass) {
    const a = h('span', 'avatar' + (extraClass ? ' ' + extraClass : ''), (name[0] || '?').toUpperCase());
    a.setAttribute('aria-hidden', 'true');
    a.style.setProperty('--hue', String(hueOf(name)));
    return a;
  }

  function endpoint(path) { return new URL(path, document.baseURI); }

  function wsURL(ticket) {
    const u = endpoint('ws');
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.search = '?ticket=' + encodeURIComponent(ticket);
    return u.href;
  }

  function formatTime(sent) {
    const d = new Date(sent);
    if (typeof sent !== 'string' || Number.isNaN(d.getTime())) return { short: '', full: '' };
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const sameDay = d.toDateString() === now.toDateString();
    const short = sameDay ? time
      : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ', ' + time;
    return { short, full: d.toLocaleString() };
  }

  // ---- status and banner ---------------------------------------------------

  function setStatus(kind, detail) {
    const text = { connecting: 'connecting…', connected: 'connected',
      reconnecting: 'reconnecting…', offline: 'offline' }[kind] || kind;
    ui.status.textContent = text;
    ui.status.dataset.state = kind;
    ui.status.title = detail || '';
    updateComposer();
  }

  let bannerTimer = null;
  function showBanner(text, sticky) {
    ui.bannerText.textContent = text;
    ui.banner.hidden = false;
    clearTimeout(bannerTimer);
    if (!sticky) bannerTimer = setTimeout(hideBanner, BANNER_MS);
  }
  function hideBanner() { ui.banner.hidden = true; clearTimeout(bannerTimer); }

  function errorText(p) {
    const code = p && typeof p.code === 'string' ? p.code : 'error';
    const msg = p && typeof p.message === 'string' && p.message ? p.message : code;
    const friendly = {
      not_in_room: 'You are not in that room.', forbidden: 'Not allowed.',
      rate_limited: 'Slow down: too many messages.', internal: 'Server error.',
    }[code];
    return friendly ? `${friendly} (${msg})` : msg;
  }

  // ---- login ---------------------------------------------------------------

  class LoginError extends Error {
    constructor(message, final) { super(message); this.final = final; }
  }

  // Returns {ticket, expires_in, user}. LoginError.final: the server said no (400/401/403),
  // as opposed to not being reachable or failing (worth retrying).
  async function login(creds) {
    let res;
    try {
      res = await fetch(endpoint('login'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ username: creds.username, password: creds.password }),
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (_) {
      throw new LoginError('Cannot reach the server.', false);
    }
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (res.ok && body && typeof body.ticket === 'string') return body;
    const msg = body && typeof body.error === 'string' && body.error
      ? body.error : `Sign-in failed (HTTP ${res.status}).`;
    throw new LoginError(msg, res.status === 400 || res.status === 401 || res.status === 403);
  }

  function showLoginError(text) {
    ui.loginError.textContent = text;
    ui.loginError.hidden = !text;
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    const username = ui.username.value.trim();
    const password = ui.password.value;
    if (!username) { showLoginError('Enter a username.'); ui.username.focus(); return; }
    showLoginError('');
    ui.loginButton.disabled = true;
    ui.loginButton.textContent = 'Signing in…';
    let res;
    try {
      res = await login({ username, password });
    } catch (e) {
      showLoginError(e.message);
      return;
    } finally {
      ui.loginButton.disabled = false;
      ui.loginButton.textContent = 'Sign in';
    }
    startSession({ username, password }, res);
  }

  function startSession(creds, res) {
    state.creds = creds;
    state.user = typeof res.user === 'string' && res.user ? res.user : creds.username;
    state.signedIn = true;
    state.attempt = 0;
    state.rooms = new Map();
    state.active = null;
    addRoom(FIRST_ROOM);
    setActive(FIRST_ROOM);
    ui.meName.textContent = state.user;
    const me = avatar(state.user);
    me.id = 'me-avatar';
    ui.meAvatar.replaceWith(me);
    ui.meAvatar = me;
    ui.password.value = '';
    ui.loginView.hidden = true;
    ui.chatView.hidden = false;
    hideBanner();
    openSocket(res.ticket);
    ui.input.focus();
  }

  function signOut() {
    state.signedIn = false;
    state.creds = null;
    clearTimeout(state.timer);
    state.timer = null;
    state.gen++;
    const ws = state.ws;
    state.ws = null;
    state.connected = false;
    if (ws) { try { ws.close(1000, 'sign out'); } catch (_) { /* already closed */ } }
    failPending('Signed out.');
    state.rooms = new Map();
    state.active = null;
    ui.messages.replaceChildren();
    ui.members.replaceChildren();
    ui.rooms.replaceChildren();
    setStatus('offline');
    hideBanner();
    ui.chatView.hidden = true;
    ui.loginView.hidden = false;
    document.title = 'Switchboard';
    ui.username.focus();
  }

  // ---- connection ------------------------------------------------------------

  function openSocket(ticket) {
    const gen = ++state.gen;
    setStatus(state.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(wsURL(ticket));
    } catch (e) {
      scheduleReconnect('cannot open the connection');
      return;
    }
    state.ws = ws;
    ws.onopen = () => { if (gen === state.gen) onOpen(); };
    ws.onmessage = (e) => {
      if (gen !== state.gen) return;
      if (typeof e.data === 'string') onFrame(e.data);
    };
    ws.onclose = (e) => { if (gen === state.gen) onClose(e); };
    ws.onerror = () => { /* a close event follows */ };
  }

  async function onOpen() {
    state.connected = true;
    setStatus('connected');
    const gen = state.gen;
    const rooms = [...state.rooms.values()];
    const results = await Promise.allSettled(rooms.map((r) => syncRoom(r)));
    if (gen !== state.gen) return;
    if (results.every((r) => r.status === 'fulfilled')) state.attempt = 0;
  }

  function onClose(ev) {
    state.connected = false;
    state.ws = null;
    failPending('The connection was lost.');
    if (!state.signedIn) return;
    let why = '';
    if (ev.code === 1001) why = 'The server is restarting.';
    else if (ev.code === 4008) why = 'Disconnected: the connection could not keep up (4008).';
    else if (ev.code === 4029) why = 'Disconnected: too many messages too fast (4029).';
    else if (ev.code === 1009) why = 'Disconnected: a message was too big (1009).';
    if (why && ev.reason) why += ' ' + ev.reason;
    if (ev.code === 4008 || ev.code === 4029 || ev.code === 1009) showBanner(why);
    scheduleReconnect(why || `connection closed (${ev.code})`);
  }

  function backoffDelay(attempt) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    const jitter = 1 + (Math.random() * 2 - 1) * BACKOFF_JITTER;
    return Math.round(base * jitter);
  }

  function scheduleReconnect(why) {
    if (!state.signedIn) return;
    clearTimeout(state.timer);
    const delay = backoffDelay(state.attempt);
    state.attempt++;
    setStatus('reconnecting', `${why || 'offline'}; next try in ${(delay / 1000).toFixed(1)} s`);
    state.timer = setTimeout(reconnect, delay);
  }

  // A ticket is single-use: every new connection needs a fresh login.
  async function reconnect() {
    state.timer = null;
    if (!state.signedIn || state.connected) return;
    const gen = ++state.gen;
    setStatus('reconnecting', 'signing in again');
    let res;
    try {
      res = await login(state.creds);
    } catch (e) {
      if (gen !== state.gen || !state.signedIn) return;
      if (e.final) { // the server no longer accepts these credentials
        const msg = e.message;
        signOut();
        showLoginError(msg);
        return;
      }
      scheduleReconnect(e.message);
      return;
    }
    if (gen !== state.gen || !state.signedIn) return;
    openSocket(res.ticket);
  }

  function reconnectNow() {
    if (state.signedIn && !state.connected && state.timer) {
      clearTimeout(state.timer);
      reconnect();
    }
  }

  // ---- requests ----------------------------------------------------------------

  // Sends an event with a fresh id; resolves with the ack payload, rejects with
  // RequestError(code) on an error reply, a timeout or a lost connection.
  function request(type, payload) {
    return new Promise((resolve, reject) => {
      const ws = state.ws;
      if (!ws || !state.connected || ws.readyState !== WebSocket.OPEN) {
        reject(new RequestError('offline', 'Not connected.'));
        return;
      }
      const id = state.nextId++;
      const timer = setTimeout(() => {
        state.pending.delete(id);
        reject(new RequestError('timeout', 'The server did not answer.'));
      }, REQUEST_TIMEOUT_MS);
      state.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ type, payload, id }));
    });
  }

  function settle(id, ok, payload) {
    if (id === undefined || id === null) return false;
    const p = state.pending.get(id);
    if (!p) return false;
    state.pending.delete(id);
    clearTimeout(p.timer);
    if (ok) p.resolve(payload);
    else p.reject(new RequestError(payload.code || 'error', errorText(payload)));
    return true;
  }

  function failPending(message) {
    const all = [...state.pending.values()];
    state.pending.clear();
    for (const p of all) { clearTimeout(p.timer); p.reject(new RequestError('offline', message)); }
  }

  function onFrame(data) {
    let ev;
    try { ev = JSON.parse(data); } catch (_) { return; }
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return;
    const p = ev.payload && typeof ev.payload === 'object' ? ev.payload : {};
    switch (ev.type) {
      case 'ack': settle(ev.id, true, p); break;
      case 'error': if (!settle(ev.id, false, p)) showBanner(errorText(p)); break;
      case 'new_message': onNewMessage(p); break;
      case 'user_joined': onPresence(p, true); break;
      case 'user_left': onPresence(p, false); break;
      default: break; // unknown events are ignored
    }
  }

  // ---- rooms -----------------------------------------------------------------------

  function addRoom(name) {
    let room = state.rooms.get(name);
    if (!room) {
      room = newRoom(name);
      state.rooms.set(name, room);
      renderRooms();
    }
    return room;
  }

  // join_room, or on a reconnect join_room with since = the last seq seen (and
  // the epoch it belongs to); merge the history into what is shown (deduplicated
  // by seq), page on while the server says there is more, then resend what was
  // never acknowledged.
  async function syncRoom(room) {
    const payload = { room: room.name };
    if (room.synced) {
      // lastSeq may already be past a gap still being paged (live messages)
      payload.since = room.resumeFrom !== null ? room.resumeFrom : room.lastSeq;
      if (room.serverEpoch) payload.epoch = room.serverEpoch;
    }
    let ack;
    try {
      ack = await request('join_room', payload);
    } catch (e) {
      if (e.code !== 'offline' && e.code !== 'timeout' && !room.synced) {
        // the server refused the room: drop it from the list
        removeRoom(room.name);
      }
      if (e.code !== 'offline') showBanner(`Could not join ${room.name}: ${e.message}`);
      throw e;
    }
    if (state.rooms.get(room.name) !== room) { // left while the join was on its way
      if (!state.rooms.has(room.name)) request('leave_room', { room: room.name }).catch(() => {});
      return;
    }
    const seq = Number.isInteger(ack.seq) ? ack.seq : null;
    const epoch = typeof ack.epoch === 'string' ? ack.epoch : null;
    const newLife = room.synced && (epoch !== null && room.serverEpoch !== null
      ? epoch !== room.serverEpoch
      : seq !== null && seq < room.lastSeq);
    if (newLife) {
      // The room's stream restarted (the server restarted without keeping
      // history, or evicted it): old seqs mean nothing now.
      startEpoch(room);
      if (epoch === null) { // a server without epochs: fetch the new life from its start
        applyMembers(room, ack.members);
        ack = await request('join_room', { room: room.name, since: 0 });
        if (state.rooms.get(room.name) !== room) return;
      }
      mergeJoin(room, ack, false);
    } else {
      mergeJoin(room, ack, room.synced && ack.recovered === false);
    }
    if (epoch !== null) room.serverEpoch = epoch;
    const history = Array.isArray(ack.history) ? ack.history : [];
    if (payload.since !== undefined && !newLife && ack.more === true && history.length) {
      await catchUp(room, history[history.length - 1].seq);
    } else {
      room.resumeFrom = null;
    }
    await resendUnsent(room);
  }

  function startEpoch(room) {
    room.epoch++;
    room.seen = new Set();
    room.lastSeq = 0;
    room.oldestSeq = null;
    room.olderExhausted = false;
    room.resumeFrom = null;
    insertItem(room, { kind: 'note', noteKind: 'epoch', epoch: room.epoch, seq: -1,
      text: 'The room restarted on the server. Messages above are from before; some may be lost.' });
  }

  // After a reconnect the join ack carries what fits; page forward with
  // `history` until the server has nothing more after `cursor`.
  async function catchUp(room, cursor) {
    for (;;) {
      room.resumeFrom = cursor;
      const page = await request('history', { room: room.name, since: cursor, limit: PAGE_FORWARD });
      if (state.rooms.get(room.name) !== room || page.epoch !== room.serverEpoch) return;
      const messages = Array.isArray(page.messages) ? page.messages : [];
      addMessages(room, messages);
      const last = messages[messages.length - 1];
      if (page.more !== true || !last || !Number.isInteger(last.seq)) {
        room.resumeFrom = null;
        return;
      }
      cursor = last.seq;
    }
  }

  function canLoadOlder(room) {
    return !room.olderExhausted && room.synced && room.oldestSeq !== null && room.oldestSeq > 1;
  }

  async function loadOlder(room) {
    if (room.loadingOlder || !canLoadOlder(room) || !state.connected) return;
    room.loadingOlder = true;
    try {
      const page = await request('history', { room: room.name, before: room.oldestSeq, limit: PAGE_BACK });
      if (state.rooms.get(room.name) !== room || page.epoch !== room.serverEpoch) return;
      const messages = Array.isArray(page.messages) ? page.messages : [];
      addMessages(room, messages, true);
      if (page.more !== true || messages.length === 0) room.olderExhausted = true;
    } catch (e) {
      if (e.code !== 'offline') showBanner(`Could not load older messages: ${e.message}`);
    } finally {
      room.loadingOlder = false;
      if (room.name === state.active) renderMessages(true);
    }
  }

  // Adds many messages with one render instead of one per message.
  function addMessages(room, messages, keepScroll) {
    state.batching = true;
    try {
      for (const m of messages) addMessage(room, m, false);
    } finally {
      state.batching = false;
    }
    if (room.name === state.active) renderMessages(keepScroll);
  }

  function mergeJoin(room, ack, missing) {
    applyMembers(room, ack.members);
    const history = Array.isArray(ack.history) ? ack.history : [];
    if (missing) {
      const first = history.find((m) => m && Number.isInteger(m.seq));
      insertItem(room, { kind: 'note', noteKind: 'gap', epoch: room.epoch,
        seq: (first ? first.seq : room.lastSeq + 1) - 0.5,
        text: 'Some messages sent while you were away could not be loaded.' });
    }
    if (Number.isInteger(ack.seq) && ack.seq > room.lastSeq) room.lastSeq = ack.seq;
    room.synced = true;
    addMessages(room, history);
  }

  function applyMembers(room, members) {
    if (Array.isArray(members)) {
      room.members = new Set(members.filter((u) => typeof u === 'string'));
      if (room.name === state.active) renderMembers();
    }
  }

  async function joinRoom(name) {
    if (!ROOM_RE.test(name)) {
      showBanner('Room names are 1–64 letters, digits, “_”, “.” or “-”.');
      return;
    }
    const existing = state.rooms.get(name);
    setActive(addRoom(name).name);
    if (existing || !state.connected) return; // joined already, or joins once connected
    try { await syncRoom(state.rooms.get(name)); } catch (_) { /* shown in the banner */ }
  }

  async function leaveRoom(name) {
    const room = state.rooms.get(name);
    if (!room) return;
    if (state.connected && room.synced) {
      try {
        await request('leave_room', { room: name });
      } catch (e) {
        if (e.code !== 'not_in_room' && e.code !== 'offline') {
          showBanner(`Could not leave ${name}: ${e.message}`);
          return;
        }
      }
    }
    removeRoom(name);
  }

  function removeRoom(name) {
    if (!state.rooms.delete(name)) return;
    if (state.active === name) {
      const next = state.rooms.keys().next();
      setActive(next.done ? null : next.value);
    } else {
      renderRooms();
    }
  }

  function setActive(name) {
    state.active = name;
    const room = name ? state.rooms.get(name) : null;
    if (room) room.unread = 0;
    renderRooms();
    renderHeader();
    renderMembers();
    renderMessages();
    closeSidebar();
  }

  // ---- messages and presence ------------------------------------------------------

  function itemKeyLess(a, b) {
    return a.epoch < b.epoch || (a.epoch === b.epoch && a.seq < b.seq);
  }

  // Inserts into room.items keeping (epoch, seq) order; returns the index.
  function insertItem(room, item) {
    const items = room.items;
    let i = items.length;
    while (i > 0 && itemKeyLess(item, items[i - 1])) i--;
    items.splice(i, 0, item);
    let dropped = 0;
    while (items.length > MAX_ITEMS_PER_ROOM) { items.shift(); dropped++; }
    if (room.name === state.active && !state.batching) {
      if (dropped || i !== items.length - 1) renderMessages();
      else appendNode(item, items[i - 1]);
    }
    return i;
  }

  function addMessage(room, m, live) {
    if (!m || typeof m !== 'object') return false;
    const seq = Number.isInteger(m.seq) ? m.seq : null;
    if (seq !== null) {
      if (room.seen.has(seq)) return false; // duplicate (history overlapping live events)
      room.seen.add(seq);
      if (seq > room.lastSeq) room.lastSeq = seq;
      if (room.oldestSeq === null || seq < room.oldestSeq) room.oldestSeq = seq;
    }
    const item = {
      kind: 'message', room: room.name, epoch: room.epoch,
      seq: seq !== null ? seq : room.lastSeq + 0.25,
      hasSeq: seq !== null,
      from: typeof m.from === 'string' ? m.from : '?',
      text: typeof m.message === 'string' ? m.message : String(m.message ?? ''),
      sent: m.sent,
    };
    insertItem(room, item);
    if (live && room.name !== state.active && item.from !== state.user) {
      room.unread++;
      renderRooms();
    }
    return true;
  }

  function onNewMessage(p) {
    const room = typeof p.room === 'string' ? state.rooms.get(p.room) : null;
    if (!room) return;
    addMessage(room, p, true);
  }

  function onPresence(p, joined) {
    if (typeof p.room !== 'string' || typeof p.user !== 'string') return;
    const room = state.rooms.get(p.room);
    if (!room) return;
    if (joined) room.members.add(p.user); else room.members.delete(p.user);
    if (room.name === state.active) { renderMembers(); renderHeader(); }
  }

  // ---- rendering ------------------------------------------------------------------

  function renderRooms() {
    const nodes = [];
    let unreadTotal = 0;
    for (const room of state.rooms.values()) {
      const li = h('li', 'room' + (room.name === state.active ? ' active' : ''));
      li.dataset.room = room.name;
      const open = h('button', 'room-open');
      open.type = 'button';
      open.append(h('span', 'room-hash', '#'), h('span', 'room-name', room.name));
      if (room.unread > 0 && room.name !== state.active) {
        open.append(h('span', 'badge', room.unread > 99 ? '99+' : room.unread));
        unreadTotal += room.unread;
      }
      if (room.name === state.active) open.setAttribute('aria-current', 'true');
      const leave = h('button', 'leave', '✕');
      leave.type = 'button';
      leave.title = `Leave ${room.name}`;
      leave.setAttribute('aria-label', `Leave ${room.name}`);
      li.append(open, leave);
      nodes.push(li);
    }
    ui.rooms.replaceChildren(...nodes);
    document.title = unreadTotal ? `(${unreadTotal}) Switchboard` : 'Switchboard';
  }

  function renderHeader() {
    const room = state.active ? state.rooms.get(state.active) : null;
    ui.roomTitle.textContent = room ? `# ${room.name}` : 'No room';
    const n = room ? room.members.size : 0;
    ui.roomSubtitle.textContent = room ? `${n} member${n === 1 ? '' : 's'}` : '';
    ui.memberCount.textContent = room ? String(n) : '';
    updateComposer();
  }

  function renderMembers() {
    const room = state.active ? state.rooms.get(state.active) : null;
    const names = room ? [...room.members].sort((a, b) => a.localeCompare(b)) : [];
    ui.members.replaceChildren(...names.map((u) => {
      const li = h('li', 'member' + (u === state.user ? ' self' : ''));
      li.dataset.user = u;
      li.append(avatar(u, 'small'), h('span', 'member-name', u));
      if (u === state.user) li.append(h('span', 'you', 'you'));
      return li;
    }));
    renderHeader();
  }

  function messageNode(item) {
    if (item.kind === 'note') {
      const li = h('li', 'note');
      if (item.noteKind) li.dataset.kind = item.noteKind;
      li.append(h('span', 'note-text', item.text));
      return li;
    }
    const own = item.from === state.user;
    const li = h('li', 'message' + (own ? ' own' : ''));
    if (item.hasSeq) li.dataset.seq = String(item.seq);
    li.dataset.room = item.room;
    li.dataset.from = item.from;
    if (item.epoch) li.dataset.epoch = String(item.epoch);
    const bubble = h('div', 'bubble');
    const meta = h('div', 'meta');
    const t = formatTime(item.sent);
    const time = h('time', 'time', t.short);
    if (typeof item.sent === 'string') time.dateTime = item.sent;
    time.title = t.full;
    meta.append(h('span', 'from', item.from), time);
    bubble.append(meta, h('div', 'text', item.text));
    if (!own) li.append(avatar(item.from));
    li.append(bubble);
    return li;
  }

  function nearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() { ui.messages.scrollTop = ui.messages.scrollHeight; }

  // A message right after one from the same sender (within 5 minutes) is drawn
  // as a continuation: tighter, without repeating the avatar.
  function continues(item, prev) {
    if (!prev || item.kind !== 'message' || prev.kind !== 'message') return false;
    if (prev.from !== item.from || prev.epoch !== item.epoch) return false;
    const a = Date.parse(prev.sent), b = Date.parse(item.sent);
    return Number.isFinite(a) && Number.isFinite(b) && Math.abs(b - a) < 5 * 60 * 1000;
  }

  function nodeFor(item, prev) {
    if (!item.node) item.node = messageNode(item);
    item.node.classList.toggle('cont', continues(item, prev));
    return item.node;
  }

  function appendNode(item, prev) {
    const stick = nearBottom() || item.from === state.user;
    ui.messages.append(nodeFor(item, prev));
    updateEmpty();
    if (stick) scrollToBottom();
  }

  // keepScroll: older messages were added above; keep what the user looks at in place.
  function renderMessages(keepScroll) {
    const room = state.active ? state.rooms.get(state.active) : null;
    const nodes = [];
    if (room && canLoadOlder(room)) nodes.push(loadOlderNode(room));
    if (room) room.items.forEach((item, i) => nodes.push(nodeFor(item, room.items[i - 1])));
    const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
    ui.messages.replaceChildren(...nodes);
    updateEmpty();
    if (keepScroll) ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
    else scrollToBottom();
  }

  function loadOlderNode(room) {
    const li = h('li', 'load-older');
    const button = h('button', 'link-button', room.loadingOlder ? 'Loading…' : 'Load older messages');
    button.type = 'button';
    button.id = 'load-older';
    button.addEventListener('click', () => loadOlder(room));
    li.append(button);
    return li;
  }

  function updateEmpty() {
    const room = state.active ? state.rooms.get(state.active) : null;
    const empty = !room || room.items.length === 0;
    ui.messagesEmpty.hidden = !empty;
    ui.messagesEmpty.textContent = !room
      ? 'Join a room to start chatting.'
      : room.synced ? `No messages in #${room.name} yet. Say hello!` : 'Loading…';
  }

  function updateComposer() {
    const text = ui.input.value;
    const n = charCount(text);
    const over = n > MAX_MESSAGE_CHARS;
    ui.charCount.hidden = n < MAX_MESSAGE_CHARS - 200;
    ui.charCount.textContent = `${n} / ${MAX_MESSAGE_CHARS}`;
    ui.charCount.classList.toggle('over', over);
    ui.send.disabled = !state.connected || !state.active || over || text.trim() === '';
    ui.input.placeholder = state.active ? `Message #${state.active}` : 'Join a room first';
  }

  function autoGrow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight, 160) + 'px';
  }

  // ---- sending ------------------------------------------------------------------

  async function onSend(ev) {
    ev.preventDefault();
    const text = ui.input.value;
    if (text.trim() === '') return;
    if (charCount(text) > MAX_MESSAGE_CHARS) {
      showBanner(`Messages can be at most ${MAX_MESSAGE_CHARS} characters.`);
      return;
    }
    const room = state.active;
    if (!room) { showBanner('Join a room first.'); return; }
    if (!state.connected) { showBanner('Not connected: the message was not sent.'); return; }
    ui.input.value = '';
    autoGrow();
    updateComposer();
    const r = state.rooms.get(room);
    const key = newKey();
    r.unsent.set(key, text);
    try {
      await request('send_message', { room, message: text, idempotency_key: key });
      r.unsent.delete(key);
    } catch (e) {
      if (e.code === 'offline' || e.code === 'timeout') {
        showBanner('The connection dropped: the message will be sent again once reconnected.');
        return;
      }
      r.unsent.delete(key);
      if (ui.input.value === '') { ui.input.value = text; autoGrow(); updateComposer(); }
      showBanner(`Message not sent: ${e.message}`);
    }
  }

  // The same key on a resend makes the server store the message once, whether
  // or not the first attempt reached it.
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function resendUnsent(room) {
    for (const [key, text] of [...room.unsent]) {
      if (state.rooms.get(room.name) !== room) return;
      try {
        await request('send_message', { room: room.name, message: text, idempotency_key: key });
        room.unsent.delete(key);
      } catch (e) {
        if (e.code === 'offline' || e.code === 'timeout') return;
        room.unsent.delete(key);
        showBanner(`Message not sent: ${e.message}`);
      }
    }
  }

  // ---- sidebar (narrow screens) -----------------------------------------------------

  function openSidebar() { ui.chatView.classList.add('sidebar-shown'); ui.sidebarBackdrop.hidden = false; }
  function closeSidebar() { ui.chatView.classList.remove('sidebar-shown'); ui.sidebarBackdrop.hidden = true; }

  // ---- wiring --------------------------------------------------------------------------

  ui.loginForm.addEventListener('submit', onLoginSubmit);
  ui.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = ui.roomInput.value.trim().replace(/^#/, '');
    if (!name) return;
    ui.roomInput.value = '';
    joinRoom(name);
    ui.input.focus();
  });
  ui.rooms.addEventListener('click', (ev) => {
    const li = ev.target.closest('[data-room]');
    if (!li) return;
    if (ev.target.closest('.leave')) leaveRoom(li.dataset.room);
    else if (li.dataset.room !== state.active) setActive(li.dataset.room);
    else closeSidebar();
  });
  ui.composer.addEventListener('submit', onSend);
  ui.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.input.addEventListener('input', () => { autoGrow(); updateComposer(); });
  ui.messages.addEventListener('scroll', () => {
    const room = state.active ? state.rooms.get(state.active) : null;
    if (room && ui.messages.scrollTop < 40) loadOlder(room);
  });
  ui.logout.addEventListener('click', signOut);
  ui.bannerClose.addEventListener('click', hideBanner);
  ui.status.addEventListener('click', reconnectNow);
  ui.sidebarOpen.addEventListener('click', openSidebar);
  ui.sidebarClose.addEventListener('click', closeSidebar);
  ui.sidebarBackdrop.addEventListener('click', closeSidebar);
  window.addEventListener('online', reconnectNow);
  setStatus('offline');
})();
