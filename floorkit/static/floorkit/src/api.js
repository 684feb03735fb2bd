/*!
 * floorkit browser client: Python and the browser call each other by name.
 * No dependencies. Load it with the template tag (`{% load floorkit %}{% floorkit_js %}`),
 * as a classic script (defines `window.floorkit` and, for DjangoFloor code, `window.df`),
 * or as an ES module through floorkit.mjs (`import floorkit from ".../floorkit.mjs"`).
 * The wire protocol is docs/protocol.md; the API is documented in docs/js.md.
 *
 *   floorkit.connect("demo.chat.show", (kwargs, meta) => { ... }); // meta: {id, trace, signal, seq}
 *   floorkit.call("demo.chat.message", {text: "hi"})                  // -> Promise
 *     .then(({results, jobs, trace}) => ...)
 *     .catch((err) => console.log(err.kind, err.message, err.errorId));
 *   floorkit.call("demo.job.start", {steps: 10}, {wait: true, onProgress: ({done, total, text}) => ...})
 *     .then((value) => ...)   // the delayed handler's return value, once its job ended
 *   floorkit.on("open", ({window, user, reconnected, mode}) => ...);
 *   // also "close", "error", "hello", "recovery", "mode", "presence" and "progress"
 *   floorkit.join("doc.42").then(({count, members}) => ...);   // groups: docs/groups.md
 *   floorkit.on("presence", ({group, joined, left, seq}) => ...);
 *   floorkit.call("doc.comment", {text}, {to: {group: "doc.42"}});
 *   floorkit.leave("doc.42"); floorkit.presence("doc.42", {limit, offset}); floorkit.groups
 *   floorkit.state      // "connecting" | "open" | "closed"
 *   floorkit.mode       // "websocket" | "http"
 *   floorkit.window     // the server-issued id of this tab's window (null before the first one)
 *
 * call(name, kwargs, {to}) and the JS handlers of this tab:
 *   - without `to`, the JS handlers connected to `name` in this tab run at once
 *     (synchronously, before call() returns, with meta.local = true), as DjangoFloor's
 *     df.call did, and the call goes to the server, which runs the Python handlers;
 *   - with `to` (e.g. ["WINDOW"], "BROADCAST", [{"USER": ["bob"]}]), nothing runs locally:
 *     the server delivers the signal to those targets, this tab included only if a target
 *     covers it. So one call never runs a tab's handlers twice.
 *
 * Connection: one websocket per tab, opened when the page has loaded (config
 * `autoconnect: false` to open it yourself with floorkit.start()). It reconnects after
 * any loss with exponential backoff (0.5 s doubling to 10 s, +-30 % jitter), reclaiming
 * its window with the token of the last hello and asks for the messages it missed
 * (`?token=T&last=SEQ`, SEQ the sequence number of the last signal received): the server
 * replays them, in order, then sends a `recovery` frame, emitted as the "recovery" event
 * ({after, replayed, lost}; lost = true: some were gone, reload what the page shows).
 * A signal frame whose seq is not above the last one is a duplicate and is skipped.
 * Close code 4003 (anonymous visitors not allowed) stops reconnecting and rejects every
 * pending call with kind "login_required". Close code 4001 (the session ended: logout,
 * expiry, password change) reconnects as usual but with a new window, not the old token.
 * Calls made while disconnected are queued and sent, in order, after the next hello.
 * Calls already sent when the connection drops are rejected with kind "connection_lost"
 * (never re-sent: they may have run).
 * A heartbeat ping goes out every `heartbeat` seconds (from hello); three pings without
 * any frame from the server in between mean a dead connection: it is closed and reopened.
 *
 * HTTP fallback (degraded mode): when the browser has no WebSocket, or `fallbackAfter`
 * (3) websockets in a row closed before their hello while the HTTP endpoints answer
 * (a proxy that blocks websockets), the client switches to HTTP: calls are POSTed to
 * `callUrl`, the messages the handlers return for this tab are run here (never sent
 * back), and `pollUrl` is polled for pushed messages (at most every `pollInterval` ms;
 * long polls answer as soon as a message comes), with the same window, the same seq
 * cursor and the same de-duplication. The page only sees the "mode" event
 * ({mode: "http", reason}) and floorkit.mode; state stays "open" while polls succeed.
 * A websocket is tried again in the background (5 s doubling to 20 s); when one gets its
 * hello (`?token=T&last=SEQ`: nothing lost, nothing twice), polling stops and "mode"
 * fires with {mode: "websocket"}. The endpoints' URLs come from the tag's config;
 * without them, or with pollInterval 0, there is no fallback.
 */

// The public API: window.floorkit (and window.df for DjangoFloor code), one client per page.

import { VERSION } from "./options.js";
import { FloorkitError } from "./errors.js";
import { Client } from "./client.js";
import { autostart } from "./page.js";

// The floorkit object of `client`. Its functions need no `this`: `const {call} = floorkit`.
export function createApi(client) {
  const api = {
    version: VERSION,
    connect: (name, fn) => client.handlers.connect(name, fn),
    disconnect: (name, fn) => client.handlers.disconnect(name, fn),
    call: (name, kwargs, callOptions) => client.call(name, kwargs, callOptions),
    join: (group) => client.groups.join(group),
    leave: (group) => client.groups.leave(group),
    presence: (group, page) => client.groups.presence(group, page),
    on: (event, fn) => client.events.on(event, fn),
    off: (event, fn) => client.events.off(event, fn),
    start: (config) => client.start(config),
    stop: () => client.stop(),
    // Headers that tell an HTTP request which window it comes from (SignalRequest.window):
    // fetch(url, {method: "POST", headers: floorkit.headers()}).
    headers: (extra) => {
      const result = Object.assign({}, extra || {});
      if (client.cursor.token) {
        result["X-Floorkit-Window"] = client.cursor.token;
      }
      return result;
    },
    autostart: () => autostart(client, client.root),
    FloorkitError: FloorkitError,
  };
  const cursor = client.cursor;
  Object.defineProperties(api, {
    __floorkit: { value: true },
    state: { get: () => client.state, enumerable: true },
    mode: { get: () => client.mode, enumerable: true },
    window: { get: () => cursor.window, enumerable: true },
    token: { get: () => cursor.token, enumerable: true },
    user: { get: () => cursor.user, enumerable: true },
    seq: { get: () => cursor.seq, enumerable: true },
    epoch: { get: () => cursor.epoch, enumerable: true },
    groups: { get: () => client.groups.list(), enumerable: true },
    options: { get: () => Object.assign({}, client.options), enumerable: true },
  });
  return api;
}

// Defines root.floorkit (and root.df unless the page has one) and autostarts it; a page
// that loads floorkit twice (a classic <script> and a module import) keeps the first.
// Returns root.floorkit.
export function install(root) {
  if (root.floorkit && root.floorkit.__floorkit) {
    return root.floorkit;
  }
  const floorkit = createApi(new Client(root));
  root.floorkit = floorkit;
  if (!root.df) {
    // DjangoFloor compatibility: df.connect(name, fn), df.call(name, kwargs).
    root.df = {
      connect: floorkit.connect,
      disconnect: floorkit.disconnect,
      call: (name, kwargs) => floorkit.call(name, kwargs),
    };
  }
  floorkit.autostart();
  return floorkit;
}
