// The client core: one state machine over the two transports, the calls, the handlers and
// the cursor.
//
//   state  "connecting" | "open" | "closed": whether calls go out now (queued otherwise)
//   mode   "websocket" | "http": which transport carries them
//
// In websocket mode a lost socket is reconnected with backoff; `fallbackAfter` sockets in
// a row closed before their hello switch to HTTP if its endpoints answer (and a browser
// without WebSocket switches at once). In HTTP mode a websocket is tried now and then in
// the background (quietly: the page sees nothing unless it works); its hello brings the
// page back to websocket mode. Close code 4003, or HTTP's login_required, stops it all.

import { FloorkitError, refusal } from "./errors.js";
import { Backoff } from "./backoff.js";
import { DEFAULTS, debugLogger } from "./options.js";
import { Events } from "./events.js";
import { Handlers } from "./handlers.js";
import { Cursor } from "./cursor.js";
import { Calls } from "./calls.js";
import { Endpoints } from "./http.js";
import { WebSocketTransport } from "./transport_websocket.js";
import { HttpTransport } from "./transport_http.js";
import { Fallback } from "./fallback.js";
import { Groups } from "./groups.js";

export class Client {
  constructor(root) {
    this.root = root;
    this.options = Object.assign({}, DEFAULTS);
    this.debug = debugLogger(root, this.options);
    this.events = new Events();
    this.handlers = new Handlers(this.events);
    this.cursor = new Cursor();
    this.calls = new Calls(this.options, this.events);
    this.groups = new Groups((name, kwargs) => this.call(name, kwargs), this.events);
    this.endpoints = new Endpoints(root, this.options, this.cursor);
    this.state = "closed";
    this.mode = "websocket";
    this.started = false;
    this.openCount = 0; // times the client became open
    this.helloAt = 0; // when the current socket got its hello
    this.failures = 0; // websockets in a row that closed before their hello
    // Websocket attempts since the last stable socket, and background ones in HTTP mode.
    this.reconnects = new Backoff(this.options, "backoffMin", "backoffMax");
    this.probes = new Backoff(this.options, "probeMin", "probeMax");
    this.retryTimer = null; // the next websocket attempt (a background one in HTTP mode)
    this.fallback = new Fallback(this);
    const [options, cursor, debug] = [this.options, this.cursor, this.debug];
    this.websocket = new WebSocketTransport(root, options, cursor, this.websocketSink(), debug);
    this.http = new HttpTransport(root, options, cursor, this.endpoints, this.httpSink(), debug);
  }

  websocketSink() {
    return {
      message: (frame) => this.receive(frame),
      open: (hello) => this.hello(hello),
      closed: (info) => this.lost(info),
      error: (error) => {
        if (this.mode !== "http") {
          this.events.emit("error", error);
        }
      },
      report: (error) => this.events.report(error),
    };
  }

  httpSink() {
    return {
      message: (frame) => this.receive(frame),
      open: () => this.markOpen(),
      closed: (info) => this.pollLost(info),
      report: (error) => this.events.report(error),
      live: () => this.started && this.mode === "http",
      pending: (id) => this.calls.has(id),
      fail: (id, kind, message) => this.calls.fail(id, kind, message),
      refused: (message) => this.refused(message),
    };
  }

  get transport() {
    return this.mode === "http" ? this.http : this.websocket;
  }

  // --- calls and messages ---------------------------------------------------------------

  call(name, kwargs, callOptions) {
    const call = this.calls.add(name, kwargs, callOptions);
    if (call.invalid) {
      return call.promise;
    }
    if (call.local) {
      this.handlers.run(name, call.local, { id: null, trace: null, signal: name, local: true });
    }
    this.flush();
    return call.promise;
  }

  // Sends the queued calls, in order, when the transport can carry them.
  flush() {
    const transport = this.transport;
    if (this.state !== "open" || !transport.writable()) {
      return;
    }
    let item;
    while ((item = this.calls.next())) {
      this.calls.sending(item.id, transport.name);
      transport.send(item);
    }
  }

  // A frame from either transport. Returns, for a signal, whether its handlers ran.
  receive(frame) {
    switch (frame.type) {
      case "signal":
        return this.deliver(frame); // now, in arrival order
      case "recovery":
        this.events.emit("recovery", {
          after: frame.after,
          replayed: frame.replayed,
          lost: !!frame.lost,
        });
        break;
      case "result":
      case "error":
        if (!this.calls.settle(frame) && frame.type === "error") {
          this.events.report(refusal(frame, null)); // about no call (or one timed out)
        }
        break;
      case "pong":
        break;
      default:
        this.debug("unknown frame type", frame.type);
    }
    return false;
  }

  // A signal from the server runs this tab's handlers, unless a duplicate (seq not above
  // the last). Nothing received (replayed handler results included) is sent back.
  deliver(frame) {
    const fresh = this.cursor.accept(frame, (after) => {
      this.events.emit("recovery", { after: after, replayed: 0, lost: true });
    });
    if (!fresh) {
      this.debug("duplicate", frame.seq);
      return false;
    }
    this.handlers.run(frame.signal, frame.kwargs || {}, {
      id: frame.id == null ? null : frame.id,
      trace: frame.trace == null ? null : frame.trace,
      signal: frame.signal,
      seq: typeof frame.seq === "number" ? frame.seq : null,
    });
    if (typeof frame.signal === "string" && frame.signal.startsWith("floorkit.")) {
      this.groups.signal(frame); // membership and presence changes
      this.calls.job(frame); // the progress and outcomes of jobs that calls wait for
    }
    return true;
  }

  // --- the state machine ----------------------------------------------------------------

  markOpen() {
    if (this.state === "open") {
      return;
    }
    this.state = "open";
    this.openCount++;
    this.flush(); // calls queued while disconnected go first, in order
    this.emitOpen();
  }

  emitOpen() {
    const cursor = this.cursor;
    this.events.emit("open", {
      window: cursor.window,
      user: cursor.user,
      reconnected: this.openCount > 1,
      mode: this.mode,
    });
  }

  // A websocket attempt (a quiet one in HTTP mode); without WebSocket, the switch to HTTP.
  open() {
    this.clearRetry();
    if (!this.started || this.websocket.active) {
      return;
    }
    if (!this.websocket.supported()) {
      this.fallback.noWebSocket();
      return;
    }
    const quiet = this.mode === "http"; // the page sees nothing unless it works
    if (!quiet) {
      this.state = "connecting";
    }
    try {
      this.websocket.open();
    } catch (exc) {
      if (!quiet) {
        this.events.report(new FloorkitError("socket", "cannot open the websocket: " + exc));
        this.state = "closed";
      }
      this.failures++;
      this.afterFailure();
    }
  }

  hello(frame) {
    this.cursor.hello(frame);
    this.groups.hello(frame);
    this.failures = 0;
    this.helloAt = Date.now();
    const wasHttp = this.mode === "http";
    if (wasHttp) {
      this.mode = "websocket"; // back from HTTP: stop polling, and let the page know
      this.http.close();
      this.http.reset(null);
      this.clearRetry();
      this.probes.reset();
      this.reconnects.reset();
    }
    const wasOpen = this.state === "open";
    this.state = "open";
    if (!wasOpen) {
      this.openCount++;
    }
    this.flush(); // calls queued while disconnected go first, in order
    if (wasHttp) {
      this.events.emit("mode", { mode: "websocket", reason: "the websocket is back" });
    }
    this.events.emit("hello", frame);
    if (!wasOpen) {
      this.emitOpen();
    }
  }

  // The socket closed ({code, reason, wasClean, helloed}).
  lost(info) {
    this.clearRetry();
    if (!info.helloed) {
      this.failures++;
    }
    if (this.helloAt && Date.now() - this.helloAt > this.options.backoffMax * 1000) {
      this.reconnects.reset(); // it was a stable connection: retry quickly
    }
    this.helloAt = 0;
    this.debug("closed", info.code, info.reason);
    const close = {
      code: info.code,
      reason: info.reason || "",
      wasClean: !!info.wasClean,
      wasOpen: this.state === "open",
    };
    if (info.code === 4003) {
      // Anonymous visitors may not open a window: retrying cannot help until the user
      // logs in (a new page), so stop, and refuse what was waiting.
      this.mode = "websocket";
      this.refused(info.reason || "login required");
      this.events.emit("close", close);
      return;
    }
    if (info.code === 4001) {
      // The session ended (logout, expiry, password change): its window is gone, so the
      // reconnect takes a new one as whoever the cookie now names.
      this.cursor.forget();
    }
    if (this.mode === "http") {
      this.retryLater(); // a background attempt failed: HTTP goes on, silently
      return;
    }
    this.state = "closed";
    this.calls.lose("websocket");
    this.events.emit("close", close);
    this.afterFailure();
  }

  afterFailure() {
    this.retryLater();
    if (this.mode !== "http" && this.failures >= this.options.fallbackAfter) {
      this.fallback.tryHttp("the websocket failed " + this.failures + " times in a row");
    }
  }

  // The next websocket attempt, after the backoff of the mode: reconnects in websocket
  // mode, background attempts in HTTP mode.
  retryLater() {
    if (!this.started || this.retryTimer) {
      return;
    }
    const probing = this.mode === "http";
    if (probing && (this.websocket.active || !this.websocket.supported())) {
      return;
    }
    const delay = (probing ? this.probes : this.reconnects).next();
    this.debug(probing ? "websocket attempt in" : "reconnect in", (delay / 1000).toFixed(2), "s");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  clearRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // A poll failed: the page sees the client closed until a poll succeeds.
  pollLost(info) {
    if (this.state === "open") {
      this.state = "closed";
      this.events.emit("close", {
        code: info.code,
        reason: info.reason,
        wasClean: info.wasClean,
        wasOpen: true,
        mode: "http",
      });
    }
  }

  // Anonymous visitors may not open a window (close code 4003, HTTP's login_required):
  // stop, and reject every call with login_required.
  refused(message) {
    this.debug("refused:", message);
    this.started = false;
    this.http.close();
    this.clearRetry();
    this.websocket.stopTimers();
    this.calls.rejectAll("login_required", message || "login required");
    const wasOpen = this.state === "open";
    this.state = "closed";
    if (this.mode === "http") {
      this.events.emit("close", {
        code: 4003,
        reason: message,
        wasClean: true,
        wasOpen: wasOpen,
        mode: this.mode,
      });
    }
  }

  // --- lifecycle ------------------------------------------------------------------------

  start(config) {
    if (config) {
      Object.assign(this.options, config);
    }
    this.started = true;
    if (this.mode === "http") {
      this.http.open();
      this.retryLater();
    } else if (!this.websocket.active && !this.retryTimer) {
      this.open();
    }
  }

  stop() {
    this.started = false;
    const hadSocket = this.websocket.active;
    this.websocket.close(1000, "floorkit.stop()");
    this.clearRetry();
    this.http.close();
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.calls.lose("websocket");
    if (hadSocket || wasOpen) {
      const reason = "floorkit.stop()";
      this.events.emit("close", { code: 1000, reason: reason, wasClean: true, wasOpen: wasOpen });
    }
  }

  // The network is back: retry at once rather than at the end of the backoff.
  online() {
    if (!this.started) {
      return;
    }
    if (this.mode === "http") {
      this.http.retryNow(); // do not wait for the poll's backoff timer
      if (!this.websocket.active) {
        this.open(); // nor for the next websocket attempt
      }
    } else if (!this.websocket.active) {
      this.reconnects.reset();
      this.open(); // the network is back: do not wait for the backoff timer
    }
  }
}
