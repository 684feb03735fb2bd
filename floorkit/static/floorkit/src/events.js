// The page's event listeners: floorkit.on(event, fn) / floorkit.off(event, fn).

export const EVENTS = [
  "open",
  "close",
  "error",
  "hello",
  "recovery",
  "mode",
  "presence",
  "progress",
];

export class Events {
  constructor() {
    this.listeners = {};
    EVENTS.forEach((event) => {
      this.listeners[event] = [];
    });
  }

  // Adds `fn` (once: the same function twice is one listener); throws TypeError for an
  // event not in EVENTS.
  on(event, fn) {
    const list = this.listeners[event];
    if (!list) {
      throw new TypeError('floorkit.on: unknown event "' + event + '"');
    }
    if (list.indexOf(fn) < 0) {
      list.push(fn);
    }
    return fn;
  }

  off(event, fn) {
    const list = this.listeners[event] || [];
    const index = list.indexOf(fn);
    if (index >= 0) {
      list.splice(index, 1);
    }
  }

  // Calls every listener of `event` with `value`; a listener that throws is logged and
  // the others still run.
  emit(event, value) {
    this.listeners[event].slice().forEach((fn) => {
      try {
        fn(value);
      } catch (exc) {
        console.error("floorkit: a " + event + " listener failed", exc);
      }
    });
  }

  // An "error" event, also logged to the console when nobody listens.
  report(error) {
    if (this.listeners.error.length === 0) {
      console.error("floorkit:", error.kind, error.message);
    }
    this.emit("error", error);
  }
}

