// Groups and presence in this tab (docs/groups.md): floorkit.join / leave / presence, the
// groups this window knows it is in, and the "presence" event. Joining, leaving and
// reading presence are calls of the server's built-in signals floorkit.join,
// floorkit.leave and floorkit.presence, so they go over the websocket or HTTP alike.

import { FloorkitError } from "./errors.js";

export class Groups {
  constructor(call, events) {
    this.call = call; // (name, kwargs) -> Promise of {results, jobs, trace}
    this.events = events;
    this.names = new Set(); // the groups of this window, as last heard
  }

  // Joins `group` with this window; resolves with the presence snapshot
  // ({group, count, members, offset, limit}), this tab included.
  join(group) {
    return this.checked("join", group, {}).then((answer) => {
      this.names.add(group);
      return answer.results[0];
    });
  }

  // Leaves `group`; resolves with {group, left} (left: false when it was not in it).
  leave(group) {
    return this.checked("leave", group, {}).then((answer) => {
      this.names.delete(group);
      return answer.results[0];
    });
  }

  // A page of the members of `group` ({limit, offset}: at most 1000, from 0).
  presence(group, options) {
    const page = {};
    ["limit", "offset"].forEach((key) => {
      if (options && options[key] !== undefined) {
        page[key] = options[key];
      }
    });
    return this.checked("presence", group, page).then((answer) => answer.results[0]);
  }

  checked(operation, group, kwargs) {
    if (typeof group !== "string" || !group) {
      const message = "floorkit." + operation + ": the group must be a non-empty string";
      return Promise.reject(new FloorkitError("bad_request", message, null, null));
    }
    return this.call("floorkit." + operation, Object.assign({ group: group }, kwargs));
  }

  // The groups of this window, sorted.
  list() {
    return Array.from(this.names).sort();
  }

  // Every hello says which groups the window is in now.
  hello(frame) {
    if (Array.isArray(frame.groups)) {
      this.names = new Set(frame.groups);
    }
  }

  // A pushed signal frame: membership changes update the groups, presence changes are
  // emitted as "presence" events ({group, joined, left, seq}).
  signal(frame) {
    const kwargs = frame.kwargs || {};
    if (frame.signal === "floorkit.membership" && typeof kwargs.group === "string") {
      if (kwargs.joined) {
        this.names.add(kwargs.group);
      } else {
        this.names.delete(kwargs.group);
      }
    } else if (frame.signal === "floorkit.presence") {
      this.events.emit("presence", {
        group: kwargs.group,
        joined: kwargs.joined || [],
        left: kwargs.left || [],
        seq: typeof frame.seq === "number" ? frame.seq : null,
      });
    }
  }
}
