// The websocket transport: one socket at a time to options.url, resuming from the cursor
// (?token=T&last=SEQ&epoch=E), with the hello timeout and the heartbeat.
//
// A transport (this one and transport_http.js) has:
//   name            "websocket" | "http", what pending calls record as their `via`
//   open()          start carrying (here: open a socket; throws when the browser cannot)
//   writable()      whether send() would go out now
//   send(item)      send a call of the outbox ({id, text, body})
//   close(code, reason)  stop, silently (no event); a socket closes with code and reason
// and tells the client through its `sink`:
//   message(frame)  a frame from the server (signal, result, error, recovery, pong, ...)
//   open(hello)     ready: here, the hello frame of a new socket
//   closed(info)    {code, reason, wasClean, helloed}: the socket is gone
//   error(error)    a FloorkitError of kind "socket"
//   report(error)   a FloorkitError for the page's "error" event (a frame not JSON)

import { FloorkitError } from "./errors.js";

export class WebSocketTransport {
  constructor(root, options, cursor, sink, debug) {
    this.name = "websocket";
    this.root = root;
    this.options = options;
    this.cursor = cursor;
    this.sink = sink;
    this.debug = debug;
    this.socket = null;
    this.helloed = false; // whether the current socket got its hello
    this.heartbeat = options.heartbeat; // seconds between pings, from the last hello
    this.unanswered = 0; // pings sent since the last frame from the server
    this.helloTimer = null;
    this.heartbeatTimer = null;
  }

  // Whether this browser has WebSocket at all.
  supported() {
    return typeof this.root.WebSocket === "function";
  }

  // Whether a socket is open or opening.
  get active() {
    return this.socket !== null;
  }

  // Whether the current socket got its hello.
  get ready() {
    return this.socket !== null && this.helloed;
  }

  url() {
    const url = new URL(this.options.url, this.root.location.href);
    if (url.protocol === "http:") {
      url.protocol = "ws:";
    } else if (url.protocol === "https:") {
      url.protocol = "wss:";
    }
    const cursor = this.cursor;
    if (cursor.token) {
      url.searchParams.set("token", cursor.token);
      if (cursor.seq !== null) {
        url.searchParams.set("last", String(cursor.seq));
        if (cursor.epoch !== null) {
          url.searchParams.set("epoch", cursor.epoch);
        }
      }
    }
    return url.href;
  }

  // Opens a socket (none may be open). Throws what `new WebSocket` throws.
  open() {
    const ws = new this.root.WebSocket(this.url());
    this.socket = ws;
    this.helloed = false;
    ws.onmessage = (event) => {
      if (ws === this.socket) {
        this.receive(event.data);
      }
    };
    ws.onerror = () => {
      if (ws === this.socket) {
        this.sink.error(new FloorkitError("socket", "websocket error"));
      }
    };
    ws.onclose = (event) => {
      if (ws === this.socket) {
        this.lost(event.code, event.reason, event.wasClean);
      }
    };
    this.helloTimer = setTimeout(() => {
      if (ws === this.socket && !this.helloed) {
        this.drop(4000, "no hello from the server");
      }
    }, this.options.helloTimeout * 1000);
  }

  writable() {
    return this.socket !== null && this.socket.readyState === 1;
  }

  send(item) {
    this.debug("send", item.text);
    this.socket.send(item.text);
  }

  // Closes the socket without telling the sink.
  close(code, reason) {
    const ws = this.socket;
    this.socket = null;
    this.helloed = false;
    this.stopTimers();
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      ws.close(code, reason);
    }
  }

  // Stops the hello timeout and the heartbeat (the socket stays).
  stopTimers() {
    clearTimeout(this.helloTimer);
    clearInterval(this.heartbeatTimer);
    this.helloTimer = this.heartbeatTimer = null;
  }

  // Gives up on the current socket at once (a dead peer may never complete a close
  // handshake).
  drop(code, reason) {
    const ws = this.socket;
    if (ws) {
      try {
        ws.close(code, reason);
      } catch (exc) {
        // already closing
      }
    }
    this.lost(code, reason, false);
  }

  lost(code, reason, wasClean) {
    const ws = this.socket;
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
    }
    const helloed = this.helloed;
    this.socket = null;
    this.helloed = false;
    this.stopTimers();
    this.sink.closed({ code: code, reason: reason, wasClean: wasClean, helloed: helloed });
  }

  receive(data) {
    this.unanswered = 0; // any frame proves the connection alive
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (exc) {
      this.sink.report(new FloorkitError("bad_frame", "the server sent invalid JSON"));
      return;
    }
    this.debug("recv", frame);
    if (!frame || typeof frame !== "object") {
      return;
    }
    if (frame.type === "hello") {
      clearTimeout(this.helloTimer);
      this.helloTimer = null;
      if (typeof frame.heartbeat === "number" && frame.heartbeat > 0) {
        this.heartbeat = frame.heartbeat;
      }
      this.helloed = true;
      this.startHeartbeat();
      this.sink.open(frame);
      return;
    }
    this.sink.message(frame);
  }

  // A ping every `heartbeat` seconds; three without any frame in between: a dead
  // connection, dropped with 4000.
  startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.unanswered = 0;
    this.heartbeatTimer = setInterval(() => {
      if (this.unanswered >= 3) {
        this.drop(4000, "heartbeat timeout");
        return;
      }
      this.unanswered++;
      if (this.writable()) {
        this.socket.send('{"type":"ping"}');
      }
    }, this.heartbeat * 1000);
  }
}
