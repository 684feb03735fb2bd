// Exponential backoff with jitter: the one schedule of websocket reconnects, background
// websocket attempts in HTTP mode and polls after a failure.

export class Backoff {
  // `minKey` and `maxKey` name the bounds (seconds) in `options`, read at every delay so
  // that floorkit.start(options) applies to the next one; `options.jitter` is the spread.
  constructor(options, minKey, maxKey) {
    this.options = options;
    this.minKey = minKey;
    this.maxKey = maxKey;
    this.attempt = 0; // delays given since the last reset()
  }

  // The next delay in milliseconds: the minimum doubling at each attempt up to the
  // maximum, then +-jitter (so a delay may exceed the maximum by the jitter).
  next() {
    const options = this.options;
    const doubled = options[this.minKey] * Math.pow(2, this.attempt);
    const seconds = Math.min(options[this.maxKey], doubled);
    this.attempt++;
    return seconds * (1 + options.jitter * (2 * Math.random() - 1)) * 1000;
  }

  reset() {
    this.attempt = 0;
  }
}
