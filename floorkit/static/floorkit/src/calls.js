// The browser's calls: their ids, the outbox of calls not sent yet (in call order), the
// pending calls waiting for their answer and the answered calls that wait for their jobs
// ({wait: true}), each settled once (answer, outcome of the jobs, failure or timeout).
//
// A call that waits is answered as any other (its inline results and job ids), then
// settled by the floorkit.job.result messages of its jobs (docs/protocol.md), which may
// come before the answer; its floorkit.job.progress messages call its onProgress and emit
// "progress" events. Those are numbered messages of the window: a reconnect replays them,
// so a call that waits for its jobs outlives the connection it was answered on.

import { FloorkitError, refusal } from "./errors.js";

export const JOB_PROGRESS = "floorkit.job.progress";
export const JOB_RESULT = "floorkit.job.result";

export class Calls {
  constructor(options, events) {
    this.options = options;
    this.events = events;
    // call id -> {resolve, reject, signal, via, waits, onProgress, outcomes, jobs}
    this.pending = new Map();
    this.awaiting = new Map(); // call id -> the same, answered: waiting for its jobs
    this.outbox = []; // [{id, text, body}]: `text` the websocket frame, `body` the HTTP body
    this.nextId = 1; // call ids are never reused, even across connections
  }

  // A call of `name`: {promise, local}, `local` the copy of kwargs for this tab's handlers
  // (null with `to`), queued in the outbox. A bad name, kwargs (not an object, not JSON)
  // or option: {promise, invalid: true}, the Promise rejected with bad_request, nothing
  // queued.
  add(name, kwargs, callOptions) {
    const options = callOptions || {};
    const to = options.to;
    if (typeof name !== "string" || !name) {
      return rejected("floorkit.call: the signal name must be a non-empty string");
    }
    if (kwargs == null) {
      kwargs = {};
    }
    if (typeof kwargs !== "object" || Array.isArray(kwargs)) {
      return rejected("floorkit.call: kwargs must be an object", name);
    }
    if (options.wait !== undefined && typeof options.wait !== "boolean") {
      return rejected("floorkit.call: the option wait must be true or false", name);
    }
    if (options.onProgress != null && typeof options.onProgress !== "function") {
      return rejected("floorkit.call: the option onProgress must be a function", name);
    }
    const waits = options.wait === true;
    const frame = { type: "call", id: this.nextId++, signal: name, kwargs: kwargs };
    if (to != null) {
      frame.to = Array.isArray(to) ? to : [to];
    }
    if (waits) {
      frame.options = { wait: true };
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
    if (waits) {
      body.id = frame.id; // the outcomes of its jobs name it
      body.options = frame.options;
    }
    let timeout = waits ? this.options.waitTimeout : this.options.callTimeout;
    if (options.timeout !== undefined) {
      timeout = options.timeout;
    }
    const entry = { signal: name, via: null, waits: waits, onProgress: options.onProgress };
    const promise = this.wait(frame.id, entry, timeout);
    this.outbox.push({ id: frame.id, text: text, body: JSON.stringify(body) });
    // The local handlers get their own copy: what they do to it never changes the call.
    return { promise: promise, local: to == null ? JSON.parse(text).kwargs : null };
  }

  // The Promise of call `id`, pending until settled or `timeout` ms have passed.
  wait(id, entry, timeout) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const settled = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      entry.resolve = settled(resolve);
      entry.reject = settled(reject);
      entry.outcomes = new Map(); // job id -> its result, for a call that waits
      entry.jobs = null; // its job ids, once answered
      this.pending.set(id, entry);
      if (typeof timeout === "number" && timeout > 0) {
        timer = setTimeout(() => {
          // No answer (or no outcome of its jobs) in time: Redis or the server
          // unreachable, a slow handler or job. The call may still run; a late answer
          // is ignored.
          if (this.forget(id)) {
            this.unqueue(id); // never sent: it will not be
            const name = entry.signal;
            const message = entry.waits
              ? name + ": no result within " + timeout + " ms; its jobs may still run"
              : name + ": no answer within " + timeout + " ms";
            reject(new FloorkitError("timeout", message, null, name));
          }
        }, timeout);
      }
    });
  }

  // Call `id` waits no more (answered or not); returns whether it was waiting.
  forget(id) {
    const found = this.pending.delete(id);
    return this.awaiting.delete(id) || found;
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

  // A result or error frame settles its call; a call that waits resolves with the inline
  // results when it has no jobs, else waits for them. Returns false when no call waits for
  // the frame (timed out, already failed by a job, or an error about no call).
  settle(frame) {
    const entry = this.pending.get(frame.id);
    if (!entry) {
      return false;
    }
    this.pending.delete(frame.id);
    if (frame.type !== "result") {
      entry.reject(refusal(frame, entry.signal));
    } else if (!entry.waits) {
      entry.resolve({
        results: frame.results || [],
        jobs: frame.jobs || [],
        trace: frame.trace == null ? null : frame.trace,
      });
    } else if (!Array.isArray(frame.jobs) || frame.jobs.length === 0) {
      entry.resolve(frame.results || []);
    } else {
      entry.jobs = frame.jobs;
      this.awaiting.set(frame.id, entry);
      this.complete(frame.id, entry); // some jobs may have ended before the answer
    }
    return true;
  }

  // A floorkit.job.progress or floorkit.job.result message: the progress or the outcome
  // of a job of a call of this tab that waits. Others, and those of a call that waits no
  // more, are ignored.
  job(frame) {
    const kwargs = frame.kwargs || {};
    const entry = this.pending.get(kwargs.call) || this.awaiting.get(kwargs.call);
    if (!entry || !entry.waits || (entry.jobs && entry.jobs.indexOf(kwargs.job) < 0)) {
      return;
    }
    if (frame.signal === JOB_PROGRESS) {
      this.progressed(entry, kwargs);
    } else if (frame.signal === JOB_RESULT && kwargs.ok === true) {
      entry.outcomes.set(kwargs.job, kwargs.result === undefined ? null : kwargs.result);
      this.complete(kwargs.call, entry);
    } else if (frame.signal === JOB_RESULT) {
      // One job failed: the call fails at once, whatever its other jobs do.
      this.forget(kwargs.call);
      const kind = kwargs.kind || "handler_failed";
      entry.reject(new FloorkitError(kind, kwargs.message || "", kwargs.error_id, entry.signal));
    }
  }

  // Resolves an answered call whose jobs have all ended: with the result of its one job,
  // or the list of its jobs' results, in the order of its handlers.
  complete(id, entry) {
    if (!entry.jobs || !entry.jobs.every((job) => entry.outcomes.has(job))) {
      return;
    }
    this.awaiting.delete(id);
    const values = entry.jobs.map((job) => entry.outcomes.get(job));
    entry.resolve(values.length === 1 ? values[0] : values);
  }

  // A progress report: the call's onProgress, then the "progress" event.
  progressed(entry, kwargs) {
    const progress = {
      done: kwargs.done,
      total: kwargs.total == null ? null : kwargs.total,
      text: typeof kwargs.text === "string" ? kwargs.text : "",
      job: kwargs.job == null ? null : kwargs.job,
    };
    if (entry.onProgress) {
      try {
        entry.onProgress(Object.assign({}, progress));
      } catch (exc) {
        const message = "the onProgress of a call of " + entry.signal + " threw: " + exc;
        this.events.report(new FloorkitError("handler_error", message, null, entry.signal));
      }
    }
    this.events.emit("progress", Object.assign({ signal: entry.signal }, progress));
  }

  // Call `id` failed on the way (no answer): rejects it with `kind` if it still waits.
  fail(id, kind, message) {
    const entry = this.pending.get(id);
    if (entry) {
      this.pending.delete(id);
      entry.reject(new FloorkitError(kind, message, null, entry.signal));
    }
  }

  // The connection carrying them closed: the calls sent over `via` and not answered are
  // rejected with connection_lost (never re-sent: they may have run); queued ones wait,
  // and so do answered calls waiting for their jobs (the reconnect replays the outcomes).
  lose(via) {
    const message = "the connection closed before the server answered; the call may have run";
    this.pending.forEach((entry, id) => {
      if (entry.via === via) {
        this.fail(id, "connection_lost", message);
      }
    });
  }

  // Every call, queued, sent or waiting for its jobs, rejected with `kind`; the outbox
  // emptied.
  rejectAll(kind, message) {
    this.outbox = [];
    const entries = Array.from(this.pending.values()).concat(Array.from(this.awaiting.values()));
    this.pending.clear();
    this.awaiting.clear();
    entries.forEach((entry) => {
      entry.reject(new FloorkitError(kind, message, null, entry.signal));
    });
  }
}

function rejected(message, name) {
  const error = new FloorkitError("bad_request", message, null, name);
  return { promise: Promise.reject(error), local: null, invalid: true };
}
