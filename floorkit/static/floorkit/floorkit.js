/*!
 * floorkit browser client: Python and the browser call each other by name.
 * No dependencies. Load it with the template tag (`{% load floorkit %}{% floorkit_js %}`),
 * as a classic script (defines `window.floorkit` and, for DjangoFloor code, `window.df`),
 * or as an ES module through floorkit.mjs (`import floorkit from ".../floorkit.mjs"`).
 * The wire protocol is docs/protocol.md; the API is documented in docs/js.md.
 *
 *   floorkit.connect("demo.chat.show", (kwargs, meta) => { ... }); // meta: {id, trace, signal, seq}
 *   floorkit.call("demo.chat.message", {text: "hi"})                  // -> Promise
 *     .then(({results, jobs, trace}) => ...)
 *     .catch((err) => console.log(err.kind, err.message, err.errorId));
 *   floorkit.on("open", ({window, user, reconnected, mode}) => ...);
 *   // also "close", "error", "hello", "recovery" and "mode"
 *   floorkit.state      // "connecting" | "open" | "closed"
 *   floorkit.mode       // "websocket" | "http"
 *   floorkit.window     // the server-issued id of this tab's window (null before the first one)
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
 * pending call with kind "login_required". Close code 4001 (the session ended: logout,
 * expiry, password change) reconnects as usual but with a new window, not the old token. Calls made while disconnected are queued
 * and sent, in order, after the next hello. Calls already sent when the connection drops
 * are rejected with kind "connection_lost" (never re-sent: they may have run).
 * A heartbeat ping goes out every `heartbeat` seconds (from hello); three pings without
 * any frame from the server in between mean a dead connection: it is closed and reopened.
 *
 * HTTP fallback (degraded mode): when the browser has no WebSocket, or `fallbackAfter`
 * (3) websockets in a row closed before their hello while the HTTP endpoints answer
 * (a proxy that blocks websockets), the client switches to HTTP: calls are POSTed to
 * `callUrl`, the messages the handlers return for this tab are run here (never sent
 * back), and `pollUrl` is polled for pushed messages (at most every `pollInterval` ms;
 * long polls answer as soon as a message comes), with the same window, the same seq
 * cursor and the same de-duplication. The page only sees the "mode" event
 * ({mode: "http", reason}) and floorkit.mode; state stays "open" while polls succeed.
 * A websocket is tried again in the background (5 s doubling to 20 s); when one gets its
 * hello (`?token=T&last=SEQ`: nothing lost, nothing twice), polling stops and "mode"
 * fires with {mode: "websocket"}. The endpoints' URLs come from the tag's config;
 * without them, or with pollInterval 0, there is no fallback.
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

  var VERSION = "0.2.0";
  var CONFIG_ID = "floorkit-config";
  var MIN_POLL_INTERVAL = 500; // ms
  var DEFAULTS = {
    url: "/ws/floorkit/", // relative URLs are resolved against the page, http(s) -> ws(s)
    autoconnect: true,
    heartbeat: 20, // seconds; the server's hello says how often to ping
    backoffMin: 0.5, // seconds
    backoffMax: 10, // seconds
    jitter: 0.3, // +-30 %
    helloTimeout: 15, // seconds to wait for hello on a new socket
    callTimeout: 30000, // ms a call waits for its answer before rejecting with kind "timeout"; 0: forever
    debug: false, // log every frame to the console
    // HTTP fallback (the tag fills these in from floorkit.urls and POLL_INTERVAL)
    windowUrl: null,
    callUrl: null,
    pollUrl: null,
    pollInterval: 0, // ms between polls (at least 500); 0: no fallback
    fallbackAfter: 3, // websockets in a row that never got their hello
    probeMin: 5, // seconds before the first background websocket attempt in HTTP mode
    probeMax: 20, // seconds, the longest wait between two of them
    csrfCookie: "csrftoken",
    csrfHeader: "X-CSRFToken",
    csrfToken: null, // when the cookie is out of reach (CSRF_USE_SESSIONS, HttpOnly)
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
  var listeners = { open: [], close: [], error: [], hello: [], recovery: [], mode: [] };
  var pending = new Map(); // call id -> {resolve, reject, signal, via}
  var outbox = []; // [{id, text, body}] waiting for an open connection, in call order
  var nextId = 1; // call ids are never reused, even across connections

  var socket = null;
  var socketHello = false; // whether the current socket got its hello
  var state = "closed";
  var mode = "websocket"; // how calls and messages travel: "websocket" | "http"
  var started = false;
  var windowId = null;
  var token = null;
  var user = null;
  var lastSeq = null; // sequence number of the last message received (hello's, then signals')
  var epoch = null; // the life of the server's counter lastSeq counts in; a new one resets it
  var heartbeat = DEFAULTS.heartbeat;
  var openCount = 0;
  var helloAt = 0;
  var attempt = 0; // reconnect attempts since the last stable connection
  var failures = 0; // websockets in a row that closed before their hello
  var reconnectTimer = null; // the next websocket attempt (a background probe in HTTP mode)
  var helloTimer = null;
  var heartbeatTimer = null;
  var unanswered = 0; // pings sent since the last frame from the server

  // HTTP mode
  var probeAttempt = 0; // background websocket attempts since entering HTTP mode
  var switching = null; // the pending request that checks the HTTP endpoints before a switch
  var pollTimer = null;
  var pollAbort = null; // AbortController of the poll in flight
  var pollRun = 0; // bumped to forget a poll in flight
  var pollFailures = 0;
  var resumedFrom = null; // the cursor HTTP mode started from, for its first "recovery" event

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

  function jittered(seconds) {
    return seconds * (1 + options.jitter * (2 * Math.random() - 1));
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

  // A signal from the server (websocket frame or poll answer). Handlers only ever run
  // here or for local calls: nothing received (replayed handler results included) is
  // sent back to the server.
  function deliver(frame) {
    if (typeof frame.seq === "number") {
      if (typeof frame.epoch === "string" && frame.epoch !== epoch) {
        var known = epoch !== null;
        epoch = frame.epoch;
        if (known) {
          // The server's counter started again (Redis restarted empty): our cursor means
          // nothing now, and what was sent meanwhile is gone. Take this message and say so.
          var after = lastSeq;
          lastSeq = null;
          emit("recovery", { after: after, replayed: 0, lost: true });
        }
      }
      if (lastSeq !== null && frame.seq <= lastSeq) {
        debug("duplicate", frame.seq);
        return false;
      }
      lastSeq = frame.seq;
    }
    runHandlers(frame.signal, frame.kwargs || {}, {
      id: frame.id == null ? null : frame.id,
      trace: frame.trace == null ? null : frame.trace,
      signal: frame.signal,
      seq: typeof frame.seq === "number" ? frame.seq : null,
    });
    return true;
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
    var body = { signal: name, kwargs: JSON.parse(text).kwargs };
    if (frame.to) {
      body.to = frame.to;
    }
    var timeout =
      callOptions && callOptions.timeout !== undefined ? callOptions.timeout : options.callTimeout;
    var promise = new Promise(function (resolve, reject) {
      var timer = null;
      var settled = function (fn) {
        return function (value) {
          clearTimeout(timer);
          fn(value);
        };
      };
      pending.set(frame.id, {
        resolve: settled(resolve),
        reject: settled(reject),
        signal: name,
        via: null,
      });
      if (typeof timeout === "number" && timeout > 0) {
        timer = setTimeout(function () {
          // No answer in time (Redis or the server unreachable, a slow handler): give up.
          // The call may still run; a late answer is ignored.
          if (pending.get(frame.id)) {
            pending.delete(frame.id);
            for (var i = 0; i < outbox.length; i++) {
              if (outbox[i].id === frame.id) {
                outbox.splice(i, 1); // never sent: it will not be
                break;
              }
            }
            reject(new FloorkitError("timeout", name + ": no answer within " + timeout + " ms", null, name));
          }
        }, timeout);
      }
    });
    outbox.push({ id: frame.id, text: text, body: JSON.stringify(body) });
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
    if (state !== "open") {
      return;
    }
    if (mode === "http") {
      while (outbox.length) {
        httpCall(outbox.shift(), false);
      }
      return;
    }
    if (!socket || socket.readyState !== 1) {
      return;
    }
    while (outbox.length) {
      var item = outbox.shift();
      var entry = pending.get(item.id);
      if (entry) {
        entry.via = "websocket";
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
      if (entry.via === "websocket") {
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

  // --- HTTP -----------------------------------------------------------------------------

  function fallbackEnabled() {
    return !!(
      options.pollInterval > 0 &&
      options.windowUrl &&
      options.callUrl &&
      options.pollUrl &&
      typeof root.fetch === "function"
    );
  }

  function csrfToken() {
    if (options.csrfToken) {
      return options.csrfToken;
    }
    var cookies = root.document && root.document.cookie ? root.document.cookie.split(";") : [];
    for (var i = 0; i < cookies.length; i++) {
      var cookie = cookies[i].trim();
      var equals = cookie.indexOf("=");
      if (equals > 0 && cookie.slice(0, equals) === options.csrfCookie) {
        return decodeURIComponent(cookie.slice(equals + 1));
      }
    }
    return null;
  }

  // fetch() answered with floorkit's JSON: {status, body}; rejects on network failure
  // and on answers that are not JSON (a proxy's error page: `error.status`).
  function request(url, init) {
    var headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    if (token) {
      headers["X-Floorkit-Window"] = token;
    }
    if (init.method === "POST") {
      var csrf = csrfToken();
      if (csrf) {
        headers[options.csrfHeader] = csrf;
      }
    }
    return root
      .fetch(
        url,
        Object.assign({ credentials: "same-origin", cache: "no-store" }, init, { headers: headers })
      )
      .then(function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (exc) {
            // below
          }
          if (!body || typeof body !== "object") {
            var error = new Error("HTTP " + response.status + " without a JSON answer");
            error.status = response.status;
            throw error;
          }
          return { status: response.status, body: body };
        });
      });
  }

  function refusal(body) {
    return new FloorkitError(body.kind || "error", body.message || "", body.error_id, null);
  }

  function newWindow() {
    return request(options.windowUrl, { method: "POST" }).then(function (answer) {
      if (answer.body.ok === false || answer.status !== 200) {
        throw refusal(answer.body);
      }
      return answer.body;
    });
  }

  // Anonymous visitors may not open a window: stop, as on close code 4003.
  function refused(message) {
    debug("refused:", message);
    started = false;
    outbox = [];
    stopPolling();
    clearTimers();
    rejectAll("login_required", message || "login required");
    var wasOpen = state === "open";
    setState("closed");
    if (mode === "http") {
      emit("close", { code: 4003, reason: message, wasClean: true, wasOpen: wasOpen, mode: mode });
    }
  }

  // The websocket keeps failing: switch if the HTTP endpoints answer (else the whole
  // server is down and the websocket keeps retrying). `done(switched)` is optional.
  function tryHttp(reason, done) {
    if (mode === "http" || switching || !fallbackEnabled()) {
      return;
    }
    debug("trying HTTP:", reason);
    switching = newWindow().then(
      function (issued) {
        switching = null;
        if (!started || mode === "http" || (socket && socketHello)) {
          return; // stopped meanwhile, or the websocket is back
        }
        enterHttp(issued, reason);
        if (done) done(true);
      },
      function (error) {
        switching = null;
        if (error instanceof FloorkitError && error.kind === "login_required") {
          refused(error.message);
          return;
        }
        if (error instanceof FloorkitError) {
          reportError(error); // e.g. csrf_failed: the page has no CSRF cookie
        }
        debug("HTTP unavailable too:", String(error));
        if (done) done(false);
      }
    );
  }

  function enterHttp(issued, reason) {
    mode = "http";
    probeAttempt = 0;
    pollFailures = 0;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (token && lastSeq !== null) {
      resumedFrom = lastSeq; // keep the window and the cursor: the first poll catches up
    } else {
      windowId = issued.window;
      token = issued.token;
      lastSeq = typeof issued.seq === "number" ? issued.seq : 0;
      epoch = typeof issued.epoch === "string" ? issued.epoch : epoch;
      resumedFrom = null;
    }
    if (issued.user !== undefined) {
      user = issued.user; // not sent by the server yet: `user` stays the last hello's
    }
    debug("HTTP mode, window", windowId, "after", lastSeq);
    emit("mode", { mode: "http", reason: reason });
    markOpen();
    poll();
    scheduleProbe();
  }

  function markOpen() {
    if (state === "open") {
      return;
    }
    setState("open");
    openCount++;
    flush(); // calls queued while disconnected go first, in order
    emit("open", { window: windowId, user: user, reconnected: openCount > 1, mode: mode });
  }

  function httpCall(item, retried) {
    var entry = pending.get(item.id);
    if (!entry) {
      return;
    }
    entry.via = "http";
    debug("POST", item.body);
    request(options.callUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: item.body,
    }).then(
      function (answer) {
        var body = answer.body;
        if (body.ok === true) {
          // What the handlers returned for this tab, in order, before the result (as
          // over the websocket). Run here only: never sent back as calls.
          (body.messages || []).forEach(function (message) {
            deliver({ signal: message.signal, kwargs: message.options || {}, trace: body.trace });
          });
          settle({
            type: "result",
            id: item.id,
            results: body.results,
            jobs: body.jobs,
            trace: body.trace,
          });
          return;
        }
        if (body.kind === "foreign_window" && !retried) {
          // The session changed (a login in another tab): nothing ran; retry once with a
          // new window.
          renewWindow().then(
            function () {
              httpCall(item, true);
            },
            function (error) {
              pending.delete(item.id);
              entry.reject(
                new FloorkitError(error.kind || "connection_lost", error.message, null, item.signal)
              );
            }
          );
          return;
        }
        settle({
          type: "error",
          id: item.id,
          kind: body.kind,
          message: body.message,
          error_id: body.error_id,
        });
      },
      function (error) {
        pending.delete(item.id);
        entry.reject(
          new FloorkitError(
            "connection_lost",
            "no answer from the server (" + error.message + "); the call may have run",
            null,
            entry.signal
          )
        );
      }
    );
  }

  var renewing = null;

  // Our token is not honoured any more (another session): take a new window; what was
  // sent to the old one is lost, as after an unrecoverable websocket reconnect.
  function renewWindow() {
    if (!renewing) {
      var after = lastSeq;
      renewing = newWindow().then(
        function (issued) {
          renewing = null;
          windowId = issued.window;
          token = issued.token;
          lastSeq = typeof issued.seq === "number" ? issued.seq : 0;
          epoch = typeof issued.epoch === "string" ? issued.epoch : epoch;
          emit("recovery", { after: after, replayed: 0, lost: true });
        },
        function (error) {
          renewing = null;
          throw error;
        }
      );
    }
    return renewing;
  }

  function pollUrl(after) {
    var url = new URL(options.pollUrl, root.location.href);
    url.searchParams.set("after", String(after));
    if (epoch !== null) {
      url.searchParams.set("epoch", epoch);
    }
    return url.href;
  }

  function poll() {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (!started || mode !== "http") {
      return;
    }
    var run = ++pollRun;
    var after = lastSeq === null ? 0 : lastSeq;
    var began = Date.now();
    pollAbort = typeof AbortController === "function" ? new AbortController() : null;
    request(pollUrl(after), { method: "GET", signal: pollAbort ? pollAbort.signal : undefined })
      .then(function (answer) {
        if (run !== pollRun) {
          return; // forgotten: we went back to the websocket, or stopped
        }
        pollAbort = null;
        var body = answer.body;
        if (answer.status !== 200 || body.ok === false) {
          throw refusal(body);
        }
        pollFailures = 0;
        markOpen();
        var replayed = 0;
        if (typeof body.epoch === "string" && body.epoch !== epoch) {
          epoch = body.epoch; // a cursor of another epoch: the answer starts over (lost: true)
          lastSeq = null;
        }
        (body.messages || []).forEach(function (frame) {
          if (frame && typeof frame === "object" && deliver(frame)) {
            replayed++;
          }
        });
        if (typeof body.last === "number" && (lastSeq === null || body.last > lastSeq)) {
          lastSeq = body.last;
        }
        if (body.lost || resumedFrom !== null) {
          emit("recovery", { after: after, replayed: replayed, lost: !!body.lost });
        }
        resumedFrom = null;
        var interval = Math.max(MIN_POLL_INTERVAL, options.pollInterval);
        pollTimer = setTimeout(poll, Math.max(0, interval - (Date.now() - began)));
      })
      .catch(function (error) {
        if (run !== pollRun) {
          return;
        }
        pollAbort = null;
        if (error instanceof FloorkitError && error.kind === "login_required") {
          refused(error.message);
          return;
        }
        if (error instanceof FloorkitError && error.kind === "foreign_window") {
          resumedFrom = null;
          renewWindow().then(poll, function (renewError) {
            pollFailed(renewError);
          });
          return;
        }
        pollFailed(error);
      });
  }

  function pollFailed(error) {
    debug("poll failed:", String(error));
    if (!started || mode !== "http") {
      return;
    }
    if (error instanceof FloorkitError) {
      reportError(error);
    }
    if (state === "open") {
      setState("closed");
      emit("close", {
        code: 1006,
        reason: "poll failed: " + error.message,
        wasClean: false,
        wasOpen: true,
        mode: "http",
      });
    }
    var delay = Math.min(options.backoffMax, options.backoffMin * Math.pow(2, pollFailures));
    pollFailures++;
    pollTimer = setTimeout(poll, jittered(delay) * 1000);
  }

  function stopPolling() {
    pollRun++;
    clearTimeout(pollTimer);
    pollTimer = null;
    if (pollAbort) {
      try {
        pollAbort.abort();
      } catch (exc) {
        // nothing to abort
      }
      pollAbort = null;
    }
  }

  // In HTTP mode, try a websocket now and then; its hello brings the page back.
  function scheduleProbe() {
    if (!started || mode !== "http" || socket || reconnectTimer || !hasWebSocket()) {
      return;
    }
    var delay = jittered(Math.min(options.probeMax, options.probeMin * Math.pow(2, probeAttempt)));
    probeAttempt++;
    debug("websocket attempt in", delay.toFixed(2), "s");
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      open();
    }, delay * 1000);
  }

  // --- the connection -------------------------------------------------------------------

  function hasWebSocket() {
    return typeof root.WebSocket === "function";
  }

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
        if (epoch !== null) {
          url.searchParams.set("epoch", epoch);
        }
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
    if (!hasWebSocket()) {
      if (mode === "http") {
        return;
      }
      if (!fallbackEnabled()) {
        reportError(new FloorkitError("socket", "this browser has no WebSocket"));
        return;
      }
      tryHttp("no WebSocket in this browser", function (switched) {
        if (!switched) {
          scheduleReconnect(); // try again later
        }
      });
      return;
    }
    var quiet = mode === "http"; // a background attempt: the page sees nothing unless it works
    var ws;
    if (!quiet) {
      setState("connecting");
    }
    try {
      ws = new WebSocket(socketUrl());
    } catch (exc) {
      if (!quiet) {
        reportError(new FloorkitError("socket", "cannot open the websocket: " + exc));
        setState("closed");
      }
      failures++;
      afterFailure();
      return;
    }
    socket = ws;
    socketHello = false;
    ws.onmessage = function (event) {
      if (ws === socket) {
        receive(event.data);
      }
    };
    ws.onerror = function () {
      if (ws === socket && mode !== "http") {
        emit("error", new FloorkitError("socket", "websocket error"));
      }
    };
    ws.onclose = function (event) {
      if (ws === socket) {
        lost(event.code, event.reason, event.wasClean);
      }
    };
    helloTimer = setTimeout(function () {
      if (ws === socket && !socketHello) {
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
    if (!socketHello) {
      failures++;
    }
    socketHello = false;
    if (helloAt && Date.now() - helloAt > options.backoffMax * 1000) {
      attempt = 0; // it was a stable connection: retry quickly
    }
    helloAt = 0;
    debug("closed", code, reason);
    if (code === 4003) {
      // Anonymous visitors may not open a window: retrying cannot help until the user
      // logs in (a new page), so stop, and refuse what was waiting.
      var wasOpenBefore = state === "open";
      mode = "websocket";
      refused(reason || "login required");
      emit("close", {
        code: code,
        reason: reason || "",
        wasClean: !!wasClean,
        wasOpen: wasOpenBefore,
      });
      return;
    }
    if (code === 4001) {
      // The session ended (logout, expiry, password change): its window is gone, so the
      // reconnect takes a new one as whoever the cookie now names.
      token = null;
      lastSeq = null;
    }
    if (mode === "http") {
      scheduleProbe(); // a background attempt failed: HTTP goes on, silently
      return;
    }
    var wasOpen = state === "open";
    setState("closed");
    rejectInFlight();
    emit("close", { code: code, reason: reason || "", wasClean: !!wasClean, wasOpen: wasOpen });
    afterFailure();
  }

  function afterFailure() {
    if (mode === "http") {
      scheduleProbe();
      return;
    }
    scheduleReconnect();
    if (failures >= options.fallbackAfter) {
      tryHttp("the websocket failed " + failures + " times in a row");
    }
  }

  function scheduleReconnect() {
    if (!started || reconnectTimer) {
      return;
    }
    var delay = jittered(Math.min(options.backoffMax, options.backoffMin * Math.pow(2, attempt)));
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
        deliver(frame); // now, in arrival order; duplicates (seq not above the last) skipped
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
    var reclaimed = frame.window != null && frame.window === windowId;
    windowId = frame.window == null ? null : frame.window;
    token = frame.token == null ? null : frame.token;
    user = frame.user == null ? null : frame.user;
    if (typeof frame.heartbeat === "number" && frame.heartbeat > 0) {
      heartbeat = frame.heartbeat;
    }
    var newEpoch = typeof frame.epoch === "string" && frame.epoch !== epoch;
    if (typeof frame.epoch === "string") {
      epoch = frame.epoch;
    }
    if (typeof frame.seq === "number") {
      // Replayed and live messages continue from here. With our own window, keep a cursor
      // that polls moved past the `last` of the URL: the replay repeats those, skipped.
      // In a new epoch the old cursor means nothing (the server says lost: true).
      if (!reclaimed || lastSeq === null || newEpoch || frame.seq > lastSeq) {
        lastSeq = frame.seq;
      }
    }
    socketHello = true;
    failures = 0;
    helloAt = Date.now();
    var wasHttp = mode === "http";
    if (wasHttp) {
      mode = "websocket"; // back from HTTP: stop polling, and let the page know
      stopPolling();
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      probeAttempt = 0;
      attempt = 0;
      resumedFrom = null;
    }
    startHeartbeat();
    var wasOpen = state === "open";
    setState("open");
    if (!wasOpen) {
      openCount++;
    }
    flush(); // calls queued while disconnected go first, in order
    if (wasHttp) {
      emit("mode", { mode: "websocket", reason: "the websocket is back" });
    }
    emit("hello", frame);
    if (!wasOpen) {
      emit("open", { window: windowId, user: user, reconnected: openCount > 1, mode: mode });
    }
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
    if (mode === "http") {
      if (!pollTimer && !pollAbort) {
        poll();
      }
      scheduleProbe();
    } else if (!socket && !reconnectTimer) {
      open();
    }
  }

  function stop() {
    started = false;
    var ws = socket;
    socket = null;
    socketHello = false;
    clearTimers();
    stopPolling();
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      ws.close(1000, "floorkit.stop()");
    }
    var wasOpen = state === "open";
    setState("closed");
    rejectInFlight();
    if (ws || wasOpen) {
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
        if (!started) {
          return;
        }
        if (mode === "http") {
          if (pollFailures && !pollAbort) {
            poll(); // do not wait for the poll's backoff timer
          }
          if (!socket) {
            open(); // nor for the next websocket attempt
          }
        } else if (!socket) {
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
    mode: { get: () => mode, enumerable: true },
    window: { get: () => windowId, enumerable: true },
    token: { get: () => token, enumerable: true },
    user: { get: () => user, enumerable: true },
    seq: { get: () => lastSeq, enumerable: true },
    epoch: { get: () => epoch, enumerable: true },
    options: { get: () => Object.assign({}, options), enumerable: true },
  });
  return api;
});
