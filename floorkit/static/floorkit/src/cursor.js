// Where this tab stands with the server: its window (id and token), its user, and the
// cursor of the messages it received (the last seq, in the epoch of the server's counter).
// Both transports resume from it: the websocket URL's ?token=&last=&epoch=, the polls'
// ?after=&epoch=.

export class Cursor {
  constructor() {
    this.window = null; // the server-issued id of this tab's window
    this.token = null; // what reclaims that window
    this.user = null;
    this.seq = null; // the last message received (hello's, then signals')
    this.epoch = null; // the life of the server's counter `seq` counts in
  }

  // Takes a message's seq (and epoch). Returns false for a duplicate (seq not above the
  // last); a message of a new epoch resets the cursor and calls `restarted(after)` first.
  accept(frame, restarted) {
    if (typeof frame.seq !== "number") {
      return true;
    }
    if (typeof frame.epoch === "string" && frame.epoch !== this.epoch) {
      const known = this.epoch !== null;
      this.epoch = frame.epoch;
      if (known) {
        // The server's counter started again (Redis restarted empty): the cursor means
        // nothing now, and what was sent meanwhile is gone.
        const after = this.seq;
        this.seq = null;
        restarted(after);
      }
    }
    if (this.seq !== null && frame.seq <= this.seq) {
      return false;
    }
    this.seq = frame.seq;
    return true;
  }

  // A websocket's hello: its window, token, user, epoch and seq.
  hello(frame) {
    const reclaimed = frame.window != null && frame.window === this.window;
    this.window = frame.window == null ? null : frame.window;
    this.token = frame.token == null ? null : frame.token;
    this.user = frame.user == null ? null : frame.user;
    const newEpoch = typeof frame.epoch === "string" && frame.epoch !== this.epoch;
    if (typeof frame.epoch === "string") {
      this.epoch = frame.epoch;
    }
    if (typeof frame.seq === "number") {
      // Replayed and live messages continue from here. With our own window, keep a cursor
      // that polls moved past the `last` of the URL: the replay repeats those, skipped.
      // In a new epoch the old cursor means nothing (the server says lost: true).
      if (!reclaimed || this.seq === null || newEpoch || frame.seq > this.seq) {
        this.seq = frame.seq;
      }
    }
  }

  // A window issued by the HTTP endpoint (POST windowUrl): a new window, from its seq.
  issued(issued) {
    this.window = issued.window;
    this.token = issued.token;
    this.seq = typeof issued.seq === "number" ? issued.seq : 0;
    this.epoch = typeof issued.epoch === "string" ? issued.epoch : this.epoch;
  }

  // A poll answered in another epoch: the answer starts over.
  restart(epoch) {
    this.epoch = epoch;
    this.seq = null;
  }

  // A poll's `last`: the cursor moves forward, never back.
  advance(last) {
    if (this.seq === null || last > this.seq) {
      this.seq = last;
    }
  }

  // The session ended: its window is gone, the next connection takes a new one.
  forget() {
    this.token = null;
    this.seq = null;
  }
}
