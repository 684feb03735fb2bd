// The JS handlers of this tab, by signal name: floorkit.connect / floorkit.disconnect.

import { FloorkitError } from "./errors.js";

export class Handlers {
  constructor(events) {
    this.events = events;
    this.byName = new Map(); // signal name -> [fn, ...]
  }

  // Adds `fn` to `name` (the same function twice is one handler) and returns it; throws
  // TypeError for an empty name or a non-function.
  connect(name, fn) {
    if (typeof name !== "string" || !name) {
      throw new TypeError("floorkit.connect: the signal name must be a non-empty string");
    }
    if (typeof fn !== "function") {
      throw new TypeError("floorkit.connect: the handler must be a function");
    }
    let list = this.byName.get(name);
    if (!list) {
      this.byName.set(name, (list = []));
    }
    if (list.indexOf(fn) < 0) {
      list.push(fn);
    }
    return fn;
  }

  // Removes `fn` from `name`, or every handler of `name` when `fn` is undefined.
  disconnect(name, fn) {
    const list = this.byName.get(name);
    if (!list) {
      return;
    }
    if (fn === undefined) {
      this.byName.delete(name);
      return;
    }
    const index = list.indexOf(fn);
    if (index >= 0) {
      list.splice(index, 1);
    }
    if (list.length === 0) {
      this.byName.delete(name);
    }
  }

  // Runs the handlers of `name`, one after the other; one that throws is logged and
  // reported ("error" event, kind handler_error) and the others still run. Returns how
  // many there were.
  run(name, kwargs, meta) {
    const list = this.byName.get(name);
    if (!list) {
      return 0;
    }
    list.slice().forEach((fn) => {
      try {
        fn(kwargs, meta);
      } catch (exc) {
        console.error("floorkit: a handler of " + name + " failed", exc);
        this.events.emit("error", new FloorkitError("handler_error", String(exc), null, name));
      }
    });
    return list.length;
  }
}
