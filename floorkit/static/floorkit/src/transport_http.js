// The HTTP transport (degraded mode): calls POSTed to callUrl, pushed messages polled from
// pollUrl after the cursor, with the same window, cursor and de-duplication as the
// websocket. The interface is the one described in transport_websocket.js; its sink also
// has:
//   live()             whether polling should go on (started, in HTTP mode)
//   pending(id)        whether call `id` still waits for its answer
//   fail(id, kind, m)  call `id` got no answer
//   refused(message)   login_required: anonymous visitors may not poll
// `open()` here means "poll", `closed(info)` a poll that failed (polling goes on, with
// backoff), `open()` of the sink a poll that succeeded.

import { FloorkitError, refusal } from "./errors.js";
import { Backoff } from "./backoff.js";
import { MIN_POLL_INTERVAL } from "./options.js";

export class HttpTransport {
  constructor(root, options, cursor, endpoints, sink, debug) {
    this.name = "http";
    this.root = root;
    this.options = options;
    this.cursor = cursor;
    this.endpoints = endpoints;
    this.sink = sink;
    this.debug = debug;
    this.failures = new Backoff(options, "backoffMin", "backoffMax"); // polls failed in a row
    this.timer = null; // the next poll
    this.abort = null; // AbortController of the poll in flight
    this.run = 0; // bumped to forget a poll in flight
    this.resumedFrom = null; // the cursor HTTP mode started from, for its first "recovery"
    this.renewing = null; // the pending request for a new window
  }

  // A new stretch of HTTP mode, resuming from seq `resumedFrom` (null: a new window).
  reset(resumedFrom) {
    this.failures.reset();
    this.resumedFrom = resumedFrom;
  }

  // Polls, unless a poll is already waiting or in flight.
  open() {
    if (!this.timer && !this.abort) {
      this.poll();
    }
  }

  // After a failure, polls now rather than at the end of the backoff.
  retryNow() {
    if (this.failures.attempt && !this.abort) {
      this.poll();
    }
  }

  writable() {
    return true;
  }

  // Stops polling (the poll in flight is aborted and forgotten).
  close() {
    this.run++;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.abort) {
      try {
        this.abort.abort();
      } catch (exc) {
        // nothing to abort
      }
      this.abort = null;
    }
  }

  send(item) {
    this.post(item, false);
  }

  // POSTs a call. The messages its handlers return for this tab come first, as signal
  // frames (run here only: never sent back as calls), then its result or error frame.
  post(item, retried) {
    if (!this.sink.pending(item.id)) {
      return;
    }
    this.debug("POST", item.body);
    const headers = { "Content-Type": "application/json" };
    const init = { method: "POST", headers: headers, body: item.body };
    this.endpoints.request(this.options.callUrl, init).then(
      (answer) => {
        const body = answer.body;
        if (body.ok === true) {
          this.answeredCall(item, body);
          return;
        }
        if (body.kind === "foreign_window" && !retried) {
          // The session changed (a login in another tab): nothing ran; retry once with a
          // new window.
          this.renew().then(
            () => this.post(item, true),
            (error) => this.sink.fail(item.id, error.kind || "connection_lost", error.message)
          );
          return;
        }
        this.sink.message({
          type: "error",
          id: item.id,
          kind: body.kind,
          message: body.message,
          error_id: body.error_id,
        });
      },
      (error) => {
        const message = "no answer from the server (" + error.message + "); the call may have run";
        this.sink.fail(item.id, "connection_lost", message);
      }
    );
  }

  answeredCall(item, body) {
    (body.messages || []).forEach((message) => {
      const kwargs = message.options || {};
      const frame = { type: "signal", signal: message.signal, kwargs: kwargs, trace: body.trace };
      this.sink.message(frame);
    });
    this.sink.message({
      type: "result",
      id: item.id,
      results: body.results,
      jobs: body.jobs,
      trace: body.trace,
    });
  }

  // Our token is not honoured any more (another session): take a new window; what was
  // sent to the old one is lost (a "recovery" with lost: true).
  renew() {
    if (!this.renewing) {
      const after = this.cursor.seq;
      this.renewing = this.endpoints.newWindow().then(
        (issued) => {
          this.renewing = null;
          this.cursor.issued(issued);
          this.sink.message({ type: "recovery", after: after, replayed: 0, lost: true });
        },
        (error) => {
          this.renewing = null;
          throw error;
        }
      );
    }
    return this.renewing;
  }

  pollUrl(after) {
    const url = new URL(this.options.pollUrl, this.root.location.href);
    url.searchParams.set("after", String(after));
    if (this.cursor.epoch !== null) {
      url.searchParams.set("epoch", this.cursor.epoch);
    }
    return url.href;
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.sink.live()) {
      return;
    }
    const run = ++this.run;
    const after = this.cursor.seq === null ? 0 : this.cursor.seq;
    const began = Date.now();
    this.abort = typeof AbortController === "function" ? new AbortController() : null;
    const init = { method: "GET", signal: this.abort ? this.abort.signal : undefined };
    this.endpoints
      .request(this.pollUrl(after), init)
      .then((answer) => {
        if (run !== this.run) {
          return; // forgotten: we went back to the websocket, or stopped
        }
        this.abort = null;
        if (answer.status !== 200 || answer.body.ok === false) {
          throw refusal(answer.body, null);
        }
        this.answered(answer.body, after);
        const interval = Math.max(MIN_POLL_INTERVAL, this.options.pollInterval);
        this.timer = setTimeout(() => this.poll(), Math.max(0, interval - (Date.now() - began)));
      })
      .catch((error) => {
        if (run === this.run) {
          this.abort = null;
          this.pollFailed(error);
        }
      });
  }

  // A poll's answer: its messages, in order, and a "recovery" when something was lost or
  // this is the first poll of a resumed window.
  answered(body, after) {
    this.failures.reset();
    this.sink.open();
    if (typeof body.epoch === "string" && body.epoch !== this.cursor.epoch) {
      this.cursor.restart(body.epoch); // our cursor was of another epoch: the answer starts over
    }
    let replayed = 0;
    (body.messages || []).forEach((frame) => {
      if (frame && typeof frame === "object") {
        replayed += this.sink.message(Object.assign({}, frame, { type: "signal" })) ? 1 : 0;
      }
    });
    if (typeof body.last === "number") {
      this.cursor.advance(body.last);
    }
    if (body.lost || this.resumedFrom !== null) {
      this.sink.message({ type: "recovery", after: after, replayed: replayed, lost: !!body.lost });
    }
    this.resumedFrom = null;
  }

  // A poll that failed: refused (login_required), our window not ours any more
  // (foreign_window: a new one, then poll again), or down (poll again after a backoff).
  pollFailed(error) {
    if (error instanceof FloorkitError && error.kind === "login_required") {
      this.sink.refused(error.message);
      return;
    }
    if (error instanceof FloorkitError && error.kind === "foreign_window") {
      this.resumedFrom = null;
      this.renew().then(
        () => this.poll(),
        (renewError) => this.retryLater(renewError)
      );
      return;
    }
    this.retryLater(error);
  }

  retryLater(error) {
    this.debug("poll failed:", String(error));
    if (!this.sink.live()) {
      return;
    }
    if (error instanceof FloorkitError) {
      this.sink.report(error);
    }
    this.sink.closed({ code: 1006, reason: "poll failed: " + error.message, wasClean: false });
    this.timer = setTimeout(() => this.poll(), this.failures.next());
  }
}
