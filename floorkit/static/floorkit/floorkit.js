/*!
 * floorkit browser client: Python and the browser call each other by name.
 * No dependencies. Load it with the template tag (`{% load floorkit %}{% floorkit_js %}`),
 * as a classic script (defines `window.floorkit` and, for DjangoFloor code, `window.df`),
 * or as an ES module through floorkit.mjs (`import floorkit from ".../floorkit.mjs"`).
 * The wire protocol is docs/protocol.md.
 *
 *   floorkit.connect("demo.chat.show", (kwargs, meta) => { ... }); // meta: {id, trace, signal, seq}
 *   floorkit.call("demo.chat.message", {text: "hi"})                  // -> Promise
 *     .then(({results, jobs, trace}) => ...)
 *     .catch((err) => console.log(err.kind, err.message, err.errorId));
 *   floorkit.on("open", ({window, user, reconnected}) => ...);  // also "close", "error", "hello",
 *                                                                // "recovery"
 *   floorkit.state      // "connecting" | "open" | "closed"
 *   floorkit.window     // the server-issued id of this tab's window (null before the first hello)
 *
 * call(name, kwargs, {to}) and the JS handlers of this tab:
 *   - without `to`, the JS handlers connected to `name` in this tab run at once
 *     (synchronously, before call() returns, with meta.local = true), as DjangoFloor's
 *     df.call did, and the call goes to the server, which runs the Python handlers;
 *   - with `to` (e.g. ["WINDOW"], "BROADCAST", [{"USER": ["bob"]}]), nothing runs locally:
 *     the server delivers the signal to those targets, this tab included only if a target
 *     covers it. So one call never runs a tab's handlers twice.
 *
 * Connection: one websocket per tab, opened when the page has loaded (config
 * `autoconnect: false` to open it yourself with floorkit.start()). It reconnects after
 * any loss with exponential backoff (0.5 s doubling to 10 s, +-30 % jitter), reclaiming
 * its window with the token of the last hello and asks for the messages it missed
 * (`?token=T&last=SEQ`, SEQ the sequence number of the last signal received): the server
 * replays them, in order, then sends a `recovery` frame, emitted as the "recovery" event
 * ({after, replayed, lost}; lost = true: some were gone, reload what the page shows).
 * A signal frame whose seq is not above the last one is a duplicate and is skipped.
 * Close code 4003 (anonymous visitors not allowed) stops reconnecting and rejects every
 * pending call with kind "login_required". Calls made while disconnected are queued
 * and sent, in order, after the next hello. Calls already sent when the connection drops
 * are rejected with kind "connection_lost" (never re-sent: they may have run).
 * A heartbeat ping goes out every `heartbeat` seconds (from hello); three pings without
 * any frame from the server in between mean a dead connection: it is closed and reopened.
 */
(function (root, factory) {
  "use strict";
  if (root.floorkit && root.floorkit.__floorkit) {
    return; // loaded twice (a classic <script> and a module import): keep the first one
  }
  var floorkit = factory(root);
  root.floorkit = floorkit;
  if (!root.df) {
    // DjangoFloor compatibility: df.connect(name, fn), df.call(name, kwargs).
    root.df = {
      connect: floorkit.connect,
      disconnect: floorkit.disconnect,
      call: function (name, kwargs) {
        return floorkit.call(name, kwargs);
      },
    };
  }
  floorkit.autostart();
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var VERSION = "0.1.0";
  var CONFIG_ID = "floorkit-config";
  var DEFAULTS = {
    url: "/ws/floorkit/", // relative URLs are resolved against the page, http(s) -> ws(s)
    autoconnect: true,
    heartbeat: 20, // seconds; the server's hello says how often to ping
    backoffMin: 0.5, // seconds
    backoffMax: 10, // seconds
    jitter: 0.3, // +-30 %
    helloTimeout: 15, // seconds to wait for hello on a new socket
    debug: false, // log every frame to the console
  };

  class FloorkitError extends Error {
    constructor(kind, message, errorId, signal) {
      super(message);
      this.name = "FloorkitError";
      this.kind = kind;
      this.errorId = errorId == null ? null : errorId;
      this.signal = signal == null ? null : signal;
    }
  }

  var options = Object.assign({}, DEFAULTS);
  var handlers = new Map(); // signal name -> [fn, ...]
  var listeners = { open: [], close: [], error: [], hello: [], recovery: [] };
  var pending = new Map(); // call id -> {resolve, reject, signal, sent}
  var outbox = []; // [{id, text}] waiting for an open connection, in call order
  var nextId = 1; // call ids are never reused, even across connections

  var socket = null;
  var state = "closed";
  var started = false;
  var windowId = null;
  var token = null;
  var user = null;
  var lastSeq = null; // sequence number of the last message received (hello's, then signals')
  var heartbeat = DEFAULTS.heartbeat;
  var helloCount = 0;
  var helloAt = 0;
  var attempt = 0; // reconnect attempts since the last stable connection
  var reconnectTimer = null;
  var helloTimer = null;
  var heartbeatTimer = null;
  var unanswered = 0; // pings sent since the last frame from the server

  function debug() {
    if (options.debug && root.console) {
      console.debug.apply(console, ["[floorkit]"].concat(Array.prototype.slice.call(arguments)));
    }
  }

  function emit(event, value) {
    listeners[event].slice().forEach(function (fn) {
      try {
        fn(value);
      } catch (exc) {
        console.error("floorkit: a " + event + " listener failed", exc);
      }
    });
  }

  function reportError(error) {
    if (listeners.error.length === 0) {
      console.error("floorkit:", error.kind, error.message);
    }
    emit("error", error);
  }

  // --- handlers -------------------------------------------------------------------------

  function connect(name, fn) {
    if (typeof name !== "string" || !name) {
      throw new TypeError("floorkit.connect: the signal name must be a non-empty string");
    }
    if (typeof fn !== "function") {
      throw new TypeError("floorkit.connect: the handler must be a function");
    }
    var list = handlers.get(name);
    if (!list) {
      handlers.set(name, (list = []));
    }
    if (list.indexOf(fn) < 0) {
      list.push(fn); // connecting the same function twice is a no-op
    }
    return fn;
  }

  function disconnect(name, fn) {
    var list = handlers.get(name);
    if (!list) {
      return;
    }
    if (fn === undefined) {
      handlers.delete(name); // every handler of the name
      return;
    }
    var index = list.indexOf(fn);
    if (index >= 0) {
      list.splice(index, 1);
    }
    if (list.length === 0) {
      handlers.delete(name);
    }
  }

  function runHandlers(name, kwargs, meta) {
    var list = handlers.get(name);
    if (!list) {
      return 0;
    }
    list.slice().forEach(function (fn) {
      try {
        fn(kwargs, meta);
      } catch (exc) {
        console.error("floorkit: a handler of " + name + " failed", exc);
        emit("error", new FloorkitError("handler_error", String(exc), null, name));
      }
    });
    return list.length;
  }

  // --- calls ----------------------------------------------------------------------------

  function call(name, kwargs, callOptions) {
    var to = callOptions ? callOptions.to : undefined;
    if (typeof name !== "string" || !name) {
      return Promise.reject(
        new FloorkitError("bad_request", "floorkit.call: the signal name must be a non-empty string")
      );
    }
    if (kwargs == null) {
      kwargs = {};
    }
    if (typeof kwargs !== "object" || Array.isArray(kwargs)) {
      return Promise.reject(
        new FloorkitError("bad_request", "floorkit.call: kwargs must be an object", null, name)
      );
    }
    var frame = { type: "call", id: nextId++, signal: name, kwargs: kwargs };
    if (to != null) {
      frame.to = Array.isArray(to) ? to : [to];
    }
    var text;
    try {
      text = JSON.stringify(frame);
    } catch (exc) {
      return Promise.reject(
        new FloorkitError("bad_request", "floorkit.call: kwargs are not JSON: " + exc, null, name)
      );
    }
    var promise = new Promise(function (resolve, reject) {
      pending.set(frame.id, { resolve: resolve, reject: reject, signal: name, sent: false });
    });
    outbox.push({ id: frame.id, text: text });
    if (to == null) {
      // The local handlers get their own copy: what they do to it never changes the call.
      runHandlers(name, JSON.parse(text).kwargs, {
        id: null,
        trace: null,
        signal: name,
        local: true,
      });
    }
    flush();
    return promise;
  }

  function flush() {
    if (state !== "open" || !socket || socket.readyState !== 1) {
      return;
    }
    while (outbox.length) {
      var item = outbox.shift();
      var entry = pending.get(item.id);
      if (entry) {
        entry.sent = true;
      }
      debug("send", item.text);
      socket.send(item.text);
    }
  }

  function settle(frame) {
    var entry = pending.get(frame.id);
    if (!entry) {
      if (frame.type === "error") {
        reportError(
          new FloorkitError(frame.kind || "error", frame.message || "", frame.error_id, null)
        );
      }
      return;
    }
    pending.delete(frame.id);
    if (frame.type === "result") {
      entry.resolve({
        results: frame.results || [],
        jobs: frame.jobs || [],
        trace: frame.trace == null ? null : frame.trace,
      });
    } else {
      entry.reject(
        new FloorkitError(frame.kind || "error", frame.message || "", frame.error_id, entry.signal)
      );
    }
  }

  function rejectInFlight() {
    pending.forEach(function (entry, id) {
      if (entry.sent) {
        pending.delete(id);
        entry.reject(
          new FloorkitError(
            "connection_lost",
            "the connection closed before the server answered; the call may have run",
            null,
            entry.signal
          )
        );
      }
    });
  }

  function rejectAll(kind, message) {
    var entries = Array.from(pending.values());
    pending.clear();
    entries.forEach(function (entry) {
      entry.reject(new FloorkitError(kind, message, null, entry.signal));
    });
  }

  // --- the connection -------------------------------------------------------------------

  function socketUrl() {
    var url = new URL(options.url, root.location.href);
    if (url.protocol === "http:") {
      url.protocol = "ws:";
    } else if (url.protocol === "https:") {
      url.protocol = "wss:";
    }
    if (token) {
      url.searchParams.set("token", token);
      if (lastSeq !== null) {
        url.searchParams.set("last", String(lastSeq));
      }
    }
    return url.href;
  }

  function setState(value) {
    state = value;
  }

  function clearTimers() {
    clearTimeout(reconnectTimer);
    clearTimeout(helloTimer);
    clearInterval(heartbeatTimer);
    reconnectTimer = helloTimer = heartbeatTimer = null;
  }

  function open() {
    clearTimers();
    if (!started || socket) {
      return;
    }
    var ws;
    setState("connecting");
    try {
      ws = new WebSocket(socketUrl());
    } catch (exc) {
      reportError(new FloorkitError("socket", "cannot open the websocket: " + exc));
      setState("closed");
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onmessage = function (event) {
      if (ws === socket) {
        receive(event.data);
      }
    };
    ws.onerror = function () {
      if (ws === socket) {
        emit("error", new FloorkitError("socket", "websocket error"));
      }
    };
    ws.onclose = function (event) {
      if (ws === socket) {
        lost(event.code, event.reason, event.wasClean);
      }
    };
    helloTimer = setTimeout(function () {
      if (ws === socket && state !== "open") {
        drop(4000, "no hello from the server");
      }
    }, options.helloTimeout * 1000);
  }

  // Give up on the current socket at once (a dead peer may never complete a close handshake).
  function drop(code, reason) {
    var ws = socket;
    if (ws) {
      try {
        ws.close(code, reason);
      } catch (exc) {
        // already closing
      }
    }
    lost(code, reason, false);
  }

  function lost(code, reason, wasClean) {
    var ws = socket;
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
    }
    socket = null;
    clearTimers();
    if (helloAt && Date.now() - helloAt > options.backoffMax * 1000) {
      attempt = 0; // it was a stable connection: retry quickly
    }
    helloAt = 0;
    var wasOpen = state === "open";
    setState("closed");
    debug("closed", code, reason);
    if (code === 4003) {
      // Anonymous visitors may not open a window: retrying cannot help until the user
      // logs in (a new page), so stop, and refuse what was waiting.
      started = false;
      outbox = [];
      rejectAll("login_required", reason || "login required");
    } else {
      rejectInFlight();
    }
    emit("close", { code: code, reason: reason || "", wasClean: !!wasClean, wasOpen: wasOpen });
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (!started || reconnectTimer) {
      return;
    }
    var base = Math.min(options.backoffMax, options.backoffMin * Math.pow(2, attempt));
    var delay = base * (1 + options.jitter * (2 * Math.random() - 1));
    attempt++;
    debug("reconnect in", delay.toFixed(2), "s");
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      open();
    }, delay * 1000);
  }

  function startHeartbeat() {
    clearInterval(heartbeatTimer);
    unanswered = 0;
    heartbeatTimer = setInterval(function () {
      if (unanswered >= 3) {
        drop(4000, "heartbeat timeout");
        return;
      }
      unanswered++;
      if (socket && socket.readyState === 1) {
        socket.send('{"type":"ping"}');
      }
    }, heartbeat * 1000);
  }

  function receive(data) {
    unanswered = 0; // any frame proves the connection alive
    var frame;
    try {
      frame = JSON.parse(data);
    } catch (exc) {
      reportError(new FloorkitError("bad_frame", "the server sent invalid JSON"));
      return;
    }
    debug("recv", frame);
    if (!frame || typeof frame !== "object") {
      return;
    }
    switch (frame.type) {
      case "signal":
        if (typeof frame.seq === "number") {
          if (lastSeq !== null && frame.seq <= lastSeq) {
            debug("duplicate", frame.seq);
            break;
          }
          lastSeq = frame.seq;
        }
        // Run now, in arrival order. Handlers only ever run here: nothing received
        // (replayed handler results included) is sent back to the server.
        runHandlers(frame.signal, frame.kwargs || {}, {
          id: frame.id == null ? null : frame.id,
          trace: frame.trace == null ? null : frame.trace,
          signal: frame.signal,
          seq: typeof frame.seq === "number" ? frame.seq : null,
        });
        break;
      case "recovery":
        emit("recovery", { after: frame.after, replayed: frame.replayed, lost: !!frame.lost });
        break;
      case "result":
      case "error":
        settle(frame);
        break;
      case "hello":
        hello(frame);
        break;
      case "pong":
        break;
      default:
        debug("unknown frame type", frame.type);
    }
  }

  function hello(frame) {
    clearTimeout(helloTimer);
    helloTimer = null;
    windowId = frame.window == null ? null : frame.window;
    token = frame.token == null ? null : frame.token;
    user = frame.user == null ? null : frame.user;
    if (typeof frame.heartbeat === "number" && frame.heartbeat > 0) {
      heartbeat = frame.heartbeat;
    }
    if (typeof frame.seq === "number") {
      lastSeq = frame.seq; // replayed and live messages continue from here
    }
    helloCount++;
    helloAt = Date.now();
    setState("open");
    startHeartbeat();
    flush(); // calls queued while disconnected go first, in order
    emit("hello", frame);
    emit("open", { window: windowId, user: user, reconnected: helloCount > 1 });
  }

  // --- lifecycle ------------------------------------------------------------------------

  function readConfig() {
    var element = root.document && root.document.getElementById(CONFIG_ID);
    if (!element) {
      return {};
    }
    try {
      return JSON.parse(element.textContent) || {};
    } catch (exc) {
      console.error("floorkit: #" + CONFIG_ID + " is not valid JSON", exc);
      return {};
    }
  }

  function start(config) {
    if (config) {
      Object.assign(options, config);
    }
    started = true;
    if (!socket && !reconnectTimer) {
      open();
    }
  }

  function stop() {
    started = false;
    var ws = socket;
    socket = null;
    clearTimers();
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      ws.close(1000, "floorkit.stop()");
    }
    var wasOpen = state === "open";
    setState("closed");
    rejectInFlight();
    if (ws) {
      emit("close", { code: 1000, reason: "floorkit.stop()", wasClean: true, wasOpen: wasOpen });
    }
  }

  function autostart() {
    var begin = function () {
      Object.assign(options, readConfig());
      if (options.autoconnect && !started) {
        start();
      }
    };
    // Wait for the page's own scripts to connect their handlers before the first frame.
    if (root.document && root.document.readyState === "loading") {
      root.document.addEventListener("DOMContentLoaded", begin, { once: true });
    } else {
      begin();
    }
    if (root.addEventListener) {
      root.addEventListener("online", function () {
        if (started && !socket) {
          attempt = 0;
          open(); // the network is back: do not wait for the backoff timer
        }
      });
    }
  }

  function on(event, fn) {
    if (!listeners[event]) {
      throw new TypeError('floorkit.on: unknown event "' + event + '"');
    }
    if (listeners[event].indexOf(fn) < 0) {
      listeners[event].push(fn);
    }
    return fn;
  }

  function off(event, fn) {
    var list = listeners[event] || [];
    var index = list.indexOf(fn);
    if (index >= 0) {
      list.splice(index, 1);
    }
  }

  // Headers that tell an HTTP request which window it comes from (SignalRequest.window):
  // fetch(url, {method: "POST", headers: floorkit.headers()}).
  function headers(extra) {
    var result = Object.assign({}, extra || {});
    if (token) {
      result["X-Floorkit-Window"] = token;
    }
    return result;
  }

  var api = {
    version: VERSION,
    connect: connect,
    disconnect: disconnect,
    call: call,
    on: on,
    off: off,
    start: start,
    stop: stop,
    headers: headers,
    autostart: autostart,
    FloorkitError: FloorkitError,
  };
  Object.defineProperties(api, {
    __floorkit: { value: true },
    state: { get: () => state, enumerable: true },
    window: { get: () => windowId, enumerable: true },
    token: { get: () => token, enumerable: true },
    user: { get: () => user, enumerable: true },
    seq: { get: () => lastSeq, enumerable: true },
    options: { get: () => Object.assign({}, options), enumerable: true },
  });
  return api;
});
