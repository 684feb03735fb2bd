// The switch to HTTP (degraded mode): when the browser has no WebSocket, or the websocket
// keeps failing while floorkit's HTTP endpoints answer (a proxy that blocks websockets).
// If the endpoints do not answer either, the server is down: the websocket keeps retrying.

import { FloorkitError } from "./errors.js";

export class Fallback {
  constructor(client) {
    this.client = client;
    this.switching = null; // the request that checks the HTTP endpoints before a switch
  }

  // open() found no WebSocket in this browser: HTTP, or an "error" event without it.
  noWebSocket() {
    const client = this.client;
    if (client.mode === "http") {
      return;
    }
    if (!client.endpoints.available()) {
      client.events.report(new FloorkitError("socket", "this browser has no WebSocket"));
      return;
    }
    this.tryHttp("no WebSocket in this browser", (switched) => {
      if (!switched) {
        client.retryLater(); // try again later
      }
    });
  }

  // Switches to HTTP if its endpoints issue a window. `done(switched)` is optional; a
  // login_required answer stops the client (refused).
  tryHttp(reason, done) {
    const client = this.client;
    if (client.mode === "http" || this.switching || !client.endpoints.available()) {
      return;
    }
    client.debug("trying HTTP:", reason);
    this.switching = client.endpoints.newWindow().then(
      (issued) => {
        this.switching = null;
        if (!client.started || client.mode === "http" || client.websocket.ready) {
          return; // stopped meanwhile, or the websocket is back
        }
        this.enter(issued, reason);
        if (done) done(true);
      },
      (error) => {
        this.switching = null;
        if (error instanceof FloorkitError && error.kind === "login_required") {
          client.refused(error.message);
          return;
        }
        if (error instanceof FloorkitError) {
          client.events.report(error); // e.g. csrf_failed: the page has no CSRF cookie
        }
        client.debug("HTTP unavailable too:", String(error));
        if (done) done(false);
      }
    );
  }

  // HTTP mode, with the window just `issued` unless the tab has a window and a cursor to
  // keep (then the first poll catches up, and says so in a "recovery" event).
  enter(issued, reason) {
    const client = this.client;
    const cursor = client.cursor;
    client.mode = "http";
    client.probes.reset();
    client.clearRetry();
    let resumedFrom = null;
    if (cursor.token && cursor.seq !== null) {
      resumedFrom = cursor.seq;
    } else {
      cursor.issued(issued);
    }
    if (issued.user !== undefined) {
      cursor.user = issued.user; // not sent by the server yet: `user` stays the last hello's
    }
    client.http.reset(resumedFrom);
    client.debug("HTTP mode, window", cursor.window, "after", cursor.seq);
    client.events.emit("mode", { mode: "http", reason: reason });
    client.markOpen();
    client.http.open();
    client.retryLater();
  }
}
