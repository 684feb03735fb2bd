// The browser's calls: their ids, the outbox of calls not sent yet (in call order) and
// the pending calls waiting for their answer, each settled once (answer, failure or
// timeout).

import { FloorkitError, refusal } from "./errors.js";

export class Calls {
  constructor(options) {
    this.options = options;
    this.pending = new Map(); // call id -> {resolve, reject, signal, via}
    this.outbox = []; // [{id, text, body}]: `text` the websocket frame, `body` the HTTP body
    this.nextId = 1; // call ids are never reused, even across connections
  }

  // A call of `name`: {promise, local}, `local` the copy of kwargs for this tab's handlers
  // (null with `to`), queued in the outbox. A bad name or kwargs (not an object, not
  // JSON): {promise, invalid: true}, the Promise rejected with bad_request, nothing queued.
  add(name, kwargs, callOptions) {
    const to = callOptions ? callOptions.to : undefined;
    if (typeof name !== "string" || !name) {
      return rejected("floorkit.call: the signal name must be a non-empty string");
    }
    if (kwargs == null) {
      kwargs = {};
    }
    if (typeof kwargs !== "object" || Array.isArray(kwargs)) {
      return rejected("floorkit.call: kwargs must be an object", name);
    }
    const frame = { type: "call", id: this.nextId++, signal: name, kwargs: kwargs };
    if (to != null) {
      frame.to = Array.isArray(to) ? to : [to];
    }
    let text;
    try {
      text = JSON.stringify(frame);
    } catch (exc) {
      return rejected("floorkit.call: kwargs are not JSON: " + exc, name);
    }
    const body = { signal: name, kwargs: JSON.parse(text).kwargs };
    if (frame.to) {
      body.to = frame.to;
    }
    const timeout =
      callOptions && callOptions.timeout !== undefined
        ? callOptions.timeout
        : this.options.callTimeout;
    const promise = this.wait(frame.id, name, timeout);
    this.outbox.push({ id: frame.id, text: text, body: JSON.stringify(body) });
    // The local handlers get their own copy: what they do to it never changes the call.
    return { promise: promise, local: to == null ? JSON.parse(text).kwargs : null };
  }

  // The Promise of call `id`, pending until settled or `timeout` ms have passed.
  wait(id, name, timeout) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const settled = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.pending.set(id, {
        resolve: settled(resolve),
        reject: settled(reject),
        signal: name,
        via: null,
      });
      if (typeof timeout === "number" && timeout > 0) {
        timer = setTimeout(() => {
          // No answer in time (Redis or the server unreachable, a slow handler): give up.
          // The call may still run; a late answer is ignored.
          if (this.pending.get(id)) {
            this.pending.delete(id);
            this.unqueue(id); // never sent: it will not be
            const message = name + ": no answer within " + timeout + " ms";
            reject(new FloorkitError("timeout", message, null, name));
          }
        }, timeout);
      }
    });
  }

  unqueue(id) {
    for (let i = 0; i < this.outbox.length; i++) {
      if (this.outbox[i].id === id) {
        this.outbox.splice(i, 1);
        return;
      }
    }
  }

  // The next call to send (taken out of the outbox), or undefined.
  next() {
    return this.outbox.shift();
  }

  has(id) {
    return this.pending.has(id);
  }

  // Call `id` goes out over `via` ("websocket" | "http").
  sending(id, via) {
    const entry = this.pending.get(id);
    if (entry) {
      entry.via = via;
    }
  }

  // A result or error frame settles its call. Returns false when no call waits for it
  // (timed out, or an error about no call).
  settle(frame) {
    const entry = this.pending.get(frame.id);
    if (!entry) {
      return false;
    }
    this.pending.delete(frame.id);
    if (frame.type === "result") {
      entry.resolve({
        results: frame.results || [],
        jobs: frame.jobs || [],
        trace: frame.trace == null ? null : frame.trace,
      });
    } else {
      entry.reject(refusal(frame, entry.signal));
    }
    return true;
  }

  // Call `id` failed on the way (no answer): rejects it with `kind` if it still waits.
  fail(id, kind, message) {
    const entry = this.pending.get(id);
    if (entry) {
      this.pending.delete(id);
      entry.reject(new FloorkitError(kind, message, null, entry.signal));
    }
  }

  // The connection carrying them closed: the calls sent over `via` are rejected with
  // connection_lost (never re-sent: they may have run); queued ones wait.
  lose(via) {
    const message = "the connection closed before the server answered; the call may have run";
    this.pending.forEach((entry, id) => {
      if (entry.via === via) {
        this.fail(id, "connection_lost", message);
      }
    });
  }

  // Every call, queued or sent, rejected with `kind`; the outbox emptied.
  rejectAll(kind, message) {
    this.outbox = [];
    const entries = Array.from(this.pending.values());
    this.pending.clear();
    entries.forEach((entry) => {
      entry.reject(new FloorkitError(kind, message, null, entry.signal));
    });
  }
}

function rejected(message, name) {
  const error = new FloorkitError("bad_request", message, null, name);
  return { promise: Promise.reject(error), local: null, invalid: true };
}
