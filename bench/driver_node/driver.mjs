// Load driver in Node: one client process of the websocket benchmark.
//
// The same program as bench/driver.py, for run_ws.py --driver node: same
// arguments, same control lines, same wire protocols, same RESULT fields,
// with the `ws` package instead of Python's websockets, so that a broadcast
// measures the server and not the client's frame reader.
//
// Control protocol (line based, so several processes can be started in step):
//
//     driver  -> stdout  READY {"connected": n, "failed": f, "errors": [...]}
//     run_ws  -> stdin   GO {...}          (calls: {"start": epoch}; bcast: {"deadline": epoch})
//                        CLOSE             (idle: close everything and report)
//     driver  -> stdout  RESULT {...}
//
// Modes:
//     calls  C connections, each in a closed loop: send a call, await its result,
//            repeat; only calls that start and end inside the measured window
//            [start + warmup, start + warmup + duration] count.
//     bcast  C connections that record publish-to-receipt latency of every
//            broadcast frame (a frame containing "bench_ts", whatever the
//            envelope), until each saw --expect frames or the deadline.
//            With --rooms A,B the connections join the rooms in turn (the peer's
//            own way, --join-style) before READY; only the members of A wait for
//            --expect frames, and frames reaching the others are counted as leaked.
//     idle   C connections that just stay open (RSS per idle connection).
//
// Wire protocols (--proto):
//     plain     JSON text frames as they are (Channels, bare, floorkit).
//     socketio  Engine.IO 4 / Socket.IO 5 over a websocket-only transport:
//               call = 42<id>["call",{...}], result = ack 43<id>[{...}],
//               broadcast = 42["bcast",{...}]; pings "2" answered "3".
//
// Beyond driver.py: --warm-frames N (bcast; default 8000, 0 = none) frames are
// read over a loopback server before READY (see warmUp), and the environment
// variable FLOORKIT_BENCH_WS_READER=ws reads every frame through ws's own
// reader instead of fastReader.
//
// Failure behaviour: a connection that cannot be opened in 3 attempts is
// counted as failed in READY (with its error); a call that fails ends that
// connection's loop and is reported in RESULT.errors; a member whose
// connection closes stops counting (it is not "timed out"). Anything else
// (bad arguments, a protocol violation while connecting or joining) is an
// error on stderr and a non-zero exit, which run_ws.py reports.

import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import WebSocket, { WebSocketServer } from "ws";

// time.time() with sub-millisecond resolution
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (s) => new Promise((r) => setTimeout(r, Math.max(0, s * 1000)));
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const errText = (e) => `${e?.name ?? "Error"}: ${e?.message ?? e}`.slice(0, 200);
const uniq5 = (xs) => [...new Set(xs)].sort().slice(0, 5);

// --------------------------------------------------------------------- stdio

function emit(tag, obj) {
  // resolves once the line is handed to the pipe (run_ws may read it late)
  return new Promise((r) => process.stdout.write(`${tag} ${JSON.stringify(obj)}\n`, r));
}

const stdinLines = [];
const stdinWaiters = [];
let stdinEnded = false;
createInterface({ input: process.stdin })
  .on("line", (l) => (stdinWaiters.length ? stdinWaiters.shift()(l.trim()) : stdinLines.push(l.trim())))
  .on("close", () => {
    stdinEnded = true;
    while (stdinWaiters.length) stdinWaiters.shift()("");
  });

function readLine() {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  if (stdinEnded) return Promise.resolve("");
  return new Promise((r) => stdinWaiters.push(r));
}

// --------------------------------------------------------------------- frames

const BENCH_TS = Buffer.from("bench_ts");
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isNumChar = (c) =>
  (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/** Where "bench_ts" starts in the frame buf[start, end), or -1. */
function findBenchTs(buf, start, end) {
  const i = buf.indexOf(BENCH_TS, start);
  return i >= 0 && i + BENCH_TS.length <= end ? i : -1;
}

/**
 * The value of the first `"bench_ts": <number>` in the frame buf[.., end)
 * from `from` (quotes may be escaped, as in a JSON-in-a-string envelope): the
 * regex of driver.py `\\?"bench_ts\\?"\s*:\s*([0-9.eE+-]+)` on bytes; null if
 * none parses.
 */
function benchTs(buf, from, end) {
  for (let i = from; i >= 0; i = findBenchTs(buf, i + 1, end)) {
    if (i === 0 || buf[i - 1] !== QUOTE) continue;
    let j = i + BENCH_TS.length;
    if (buf[j] === BACKSLASH) j++;
    if (buf[j] !== QUOTE) continue;
    j++;
    while (j < end && isSpace(buf[j])) j++;
    if (buf[j] !== 0x3a) continue;
    j++;
    while (j < end && isSpace(buf[j])) j++;
    const k0 = j;
    while (j < end && isNumChar(buf[j])) j++;
    if (j === k0) continue;
    const v = Number(buf.toString("latin1", k0, j));
    return Number.isFinite(v) ? v : null;
  }
  return null;
}

// Receipt time of the frames being handed out: read once per chunk read from a
// socket (every frame of a chunk arrived with it).
let receivedAt = 0;

// FLOORKIT_BENCH_WS_READER=ws: every frame through ws's own reader
const FAST_READER = process.env.FLOORKIT_BENCH_WS_READER !== "ws";

const callBody = (n) => ({ type: "call", id: n, signal: "bench.echo", kwargs: { x: n } });

// --------------------------------------------------------------------- connection

/**
 * Reads the frames a server sends on `socket` (an open websocket's) itself, as
 * long as they are unfragmented text frames, and hands each payload to
 * `deliver(buf, start, end)`; pings and pongs go to ws one at a time (it
 * answers them); at the first other frame (close, binary, fragment) or a
 * masked one it gives the socket back to ws, which then reads everything from
 * that frame on. ws's own reader costs a stream write, a tick and two events
 * per chunk; this one is a loop over the chunk.
 */
function fastReader(socket, deliver) {
  const wsListeners = socket.listeners("data");
  let pending = null;
  const giveBack = (rest) => {
    socket.removeListener("data", onData);
    for (const l of wsListeners) socket.on("data", l);
    if (rest.length) for (const l of wsListeners) l.call(socket, rest);
  };
  const onData = (chunk) => {
    receivedAt = now();
    let buf = chunk;
    if (pending !== null) {
      buf = Buffer.concat([pending, chunk]);
      pending = null;
    }
    const end = buf.length;
    let off = 0;
    while (end - off >= 2) {
      const b0 = buf[off];
      const b1 = buf[off + 1];
      if (b0 !== 0x81 || b1 & 0x80) {
        if ((b0 === 0x89 || b0 === 0x8a) && b1 <= 125) {
          // a whole ping or pong: ws answers it and is back at a frame boundary
          if (end - off < 2 + b1) break;
          const frame = buf.subarray(off, off + 2 + b1);
          off += 2 + b1;
          for (const l of wsListeners) l.call(socket, frame);
          continue;
        }
        return giveBack(buf.subarray(off));
      }
      let len = b1;
      let head = 2;
      if (len === 126) {
        if (end - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (end - off < 10) break;
        if (buf.readUInt32BE(off + 2) !== 0) return giveBack(buf.subarray(off));
        len = buf.readUInt32BE(off + 6);
        head = 10;
      }
      if (end - off < head + len) break;
      const start = off + head;
      off = start + len;
      deliver(buf, start, off);
    }
    if (off < end) pending = buf.subarray(off);
  };
  for (const l of wsListeners) socket.removeListener("data", l);
  socket.on("data", onData);
}

/**
 * One websocket connection speaking the peer's wire protocol. Every frame
 * goes to `handler(buf, start, end)` (the frame is buf[start, end)); without
 * one, to control() (Socket.IO pings).
 */
class Conn {
  constructor(ws, proto) {
    this.ws = ws;
    this.proto = proto;
    this.handler = null;
    this.onClose = null;
    this.closed = false;
    const deliver = (buf, start, end) =>
      this.handler ? this.handler(buf, start, end) : this.control(buf, start, end);
    ws.on("message", (data) => {
      receivedAt = now();
      deliver(data, 0, data.length);
    });
    // ws has not read from the socket yet when "open" is emitted
    if (FAST_READER) ws.once("open", () => ws._socket && fastReader(ws._socket, deliver));
    ws.on("close", () => {
      this.closed = true;
      if (this.onClose) this.onClose();
    });
    ws.on("error", () => {}); // a close follows
  }

  control(buf, start, end) {
    if (this.proto === "socketio" && end - start === 1 && buf[start] === 0x32) this.ws.send("3");
  }

  /** The next frame (as a string) for which test() holds; the others go to control(). */
  waitFor(test) {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("connection closed"));
      this.onClose = () => {
        this.handler = this.onClose = null;
        reject(new Error("connection closed"));
      };
      this.handler = (buf, start, end) => {
        const msg = buf.toString("utf8", start, end);
        let r;
        try {
          r = test(msg);
        } catch (e) {
          r = e instanceof Error ? e : new Error(String(e));
        }
        if (r instanceof Error) {
          this.handler = this.onClose = null;
          reject(r);
        } else if (r) {
          this.handler = this.onClose = null;
          resolve(msg);
        } else {
          this.control(buf, start, end);
        }
      };
    });
  }

  static async open(url, proto, hello) {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: 0,
      handshakeTimeout: 60_000,
      skipUTF8Validation: true,
    });
    const self = new Conn(ws, proto);
    const first = proto === "socketio" ? self.waitFor(() => true) : null;
    first?.catch(() => {});
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("close", () => reject(new Error("closed during the handshake")));
    });
    if (proto === "socketio") {
      const msg = await first;
      if (!msg.startsWith("0")) {
        ws.terminate();
        throw new Error(`engine.io open expected, got ${JSON.stringify(msg.slice(0, 80))}`);
      }
      const connected = self.waitFor((m) =>
        m.startsWith("40")
          ? true
          : m.startsWith("44")
            ? new Error(`socket.io connect refused: ${JSON.stringify(m.slice(0, 80))}`)
            : false,
      );
      ws.send("40");
      await connected;
    }
    for (const frame of hello) ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    return self;
  }

  /** Join `room` the peer's way and wait until it is done (where the peer says so). */
  async join(room, style) {
    let frame, done;
    if (style === "socketio") {
      frame = "421" + JSON.stringify(["join", room]);
      done = (m) => m.startsWith("431");
    } else if (style === "floorkit") {
      frame = JSON.stringify({ type: "call", id: 1, signal: "floorkit.join", kwargs: { group: room } });
      done = (m) => m.includes('"id":1') && (m.includes('"result"') || m.includes('"error"'));
    } else {
      frame = JSON.stringify({ join: room });
      done = style === "channels" ? (m) => m.includes('"joined"') : null;
    }
    const reply = done ? this.waitFor(done) : null;
    this.ws.send(frame);
    if (!reply) return;
    const msg = await reply;
    if (msg.includes('"error"')) throw new Error(`join refused: ${JSON.stringify(msg.slice(0, 120))}`);
  }

  /** One call of bench.echo; rejects on a wrong result. */
  call(n) {
    if (this.proto === "socketio") {
      const prefix = `43${n}[`;
      const reply = this.waitFor((m) => m.startsWith(prefix));
      this.ws.send(`42${n}` + JSON.stringify(["call", callBody(n)]));
      return reply.then((msg) => {
        const res = JSON.parse(msg.slice(prefix.length - 1))[0];
        if (res?.type !== "result" || res?.id !== n) throw new Error(`bad ack ${JSON.stringify(msg.slice(0, 120))}`);
      });
    }
    const reply = this.waitFor((m) => {
      if (!m.includes('"result"')) return false;
      const res = JSON.parse(m);
      return res?.type === "result" && res?.id === n;
    });
    this.ws.send(JSON.stringify(callBody(n)));
    return reply.then((msg) => {
      const res = JSON.parse(msg);
      const r = res.results;
      const good =
        res.ok === true &&
        Array.isArray(r) &&
        r.length === 1 &&
        r[0] &&
        Object.keys(r[0]).length === 1 &&
        r[0].x === n;
      if (!good) throw new Error(`bad result ${JSON.stringify(msg.slice(0, 120))}`);
    });
  }

  close() {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 3000);
      this.onClose = () => {
        clearTimeout(t);
        resolve();
      };
      try {
        this.ws.close();
      } catch {
        clearTimeout(t);
        this.ws.terminate();
        resolve();
      }
    });
  }
}

/** Run fn over items with at most `limit` in flight; results in order. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

async function openAll(args, count) {
  const hello = args.hello ? JSON.parse(args.hello) : [];
  const errors = [];
  const conns = await pool(Array.from({ length: count }), args.connectConcurrency, async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await Conn.open(args.url, args.proto, hello);
      } catch (e) {
        if (attempt === 2) errors.push(errText(e));
        await sleep(0.2 * (attempt + 1));
      }
    }
    return null;
  });
  const ok = conns.filter((c) => c !== null);
  return [ok, conns.length - ok.length, uniq5(errors)];
}

const closeAll = (conns) => Promise.all(conns.map((c) => c.close()));

// --------------------------------------------------------------------- modes

async function modeCalls(args) {
  const [conns, failed, errors] = await openAll(args, args.clients);
  await emit("READY", { connected: conns.length, failed, errors });
  const go = await readLine();
  if (!go.startsWith("GO")) return conns;
  const start = JSON.parse(go.slice(2)).start;
  const w0 = start + args.warmup;
  const w1 = w0 + args.duration;
  const lat = [];
  const errs = [];
  const cpu = {};

  const loop = async (conn, base) => {
    let n = base;
    for (;;) {
      const t = now();
      if (t >= w1) return;
      n += 1;
      const t0 = performance.now();
      const inWindow = t >= w0;
      try {
        await conn.call(n);
      } catch (e) {
        errs.push(errText(e));
        return;
      }
      if (inWindow && now() <= w1) lat.push(Math.trunc((performance.now() - t0) * 1000));
    }
  };
  const sampler = (async () => {
    await sleep(w0 - now());
    cpu.c0 = cpuSeconds();
    await sleep(w1 - now());
    cpu.c1 = cpuSeconds();
  })();

  await sleep(start - now());
  await Promise.all(conns.map((c, i) => loop(c, i * 10_000_000)));
  await sampler;
  await emit("RESULT", {
    calls: lat.length,
    lat_us: lat,
    window_s: args.duration,
    client_cpu_s: cpu.c1 - cpu.c0,
    errors: uniq5(errs),
    connected: conns.length,
  });
  return conns;
}

/** Resolves when `conn` got no frame for `quiet` seconds (its frames go to control()). */
function settle(conn, quiet) {
  return new Promise((resolve) => {
    let timer;
    const done = () => {
      conn.handler = conn.onClose = null;
      resolve();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quiet * 1000);
    };
    conn.handler = (buf, start, end) => {
      arm();
      conn.control(buf, start, end);
    };
    conn.onClose = () => {
      clearTimeout(timer);
      done();
    };
    arm();
  });
}

/** Counts of one broadcast measurement (or of the warm-up). */
function bcastTally() {
  return { lat: [], firstRecv: 0, lastRecv: 0, bad: 0, leaked: 0, other: 0 };
}

/** Frame handler of a connection outside the room: every broadcast it gets is a leak. */
function outsiderReader(conn, tally) {
  return (buf, start, end) => {
    if (findBenchTs(buf, start, end) >= 0) tally.leaked++;
    else conn.control(buf, start, end);
  };
}

/**
 * Frame handler of a member: the latency of each broadcast frame (receipt
 * time - bench_ts), until `expect` of them arrived; then `stop()`.
 */
function memberReader(conn, tally, expect, stop) {
  let got = 0;
  return (buf, start, end) => {
    const i = findBenchTs(buf, start, end);
    if (i < 0) {
      tally.other++;
      conn.control(buf, start, end);
      return;
    }
    const ts = benchTs(buf, i, end);
    if (ts === null) {
      tally.bad++;
      return;
    }
    const t = receivedAt;
    tally.lat.push(Math.trunc((t - ts) * 1e6));
    if (!tally.firstRecv) tally.firstRecv = t;
    tally.lastRecv = t;
    if (++got >= expect) stop();
  };
}

/**
 * Members read until each got `expect` broadcasts (or closed) or `deadline`
 * (epoch s) passed; outsiders count leaks meanwhile. Resolves with the number
 * of members still waiting.
 */
async function readBroadcasts(members, outsiders, tally, expect, deadline) {
  for (const c of outsiders) c.handler = outsiderReader(c, tally);
  let pending = members.length;
  let finish;
  const allDone = new Promise((r) => (finish = r));
  if (pending === 0) finish();
  for (const c of members) {
    let open = true;
    const stop = () => {
      if (!open) return;
      open = false;
      c.handler = c.onClose = null;
      if (--pending === 0) finish();
    };
    if (expect <= 0 || c.closed) {
      stop();
      continue;
    }
    c.onClose = stop; // closed: stop counting this client
    c.handler = memberReader(c, tally, expect, stop);
  }
  let timer;
  const late = new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - now()) * 1000)));
  await Promise.race([allDone, late]);
  clearTimeout(timer);
  for (const c of [...members, ...outsiders]) c.handler = c.onClose = null;
  return pending;
}

/**
 * Runs the broadcast read path (socket reader, frame handlers, timestamp
 * parsing) over a loopback server in this process before READY, so that V8
 * has compiled it before the measured window instead of inside it. Frames of
 * both envelopes and both length encodings, in bursts of varying size.
 */
async function warmUp(frames) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const peers = [];
  wss.on("connection", (ws) => peers.push(ws));
  const conns = await Promise.all(Array.from({ length: 4 }, () => Conn.open(url, "plain", [])));
  while (peers.length < conns.length) await sleep(0.005);
  const per = Math.ceil(frames / conns.length);
  const done = readBroadcasts(conns.slice(1), conns.slice(0, 1), bcastTally(), per, now() + 10);
  const pad = "x".repeat(120);
  for (let i = 0; i < per; i++) {
    const kw = { bench_seq: i, bench_ts: now(), ...(i % 2 ? { pad } : {}) };
    const f =
      i % 3 ? JSON.stringify({ type: "signal", signal: "bench.broadcast", kwargs: kw }) : "42" + JSON.stringify(["bcast", kw]);
    for (const p of peers) p.send(f);
    if (i % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  await done;
  await closeAll(conns);
  for (const p of peers) p.terminate();
  await new Promise((r) => wss.close(r));
}

async function modeBcast(args) {
  if (args.warmFrames > 0) await warmUp(args.warmFrames);
  const [conns, failed, errors] = await openAll(args, args.clients);
  const rooms = args.rooms ? args.rooms.split(",") : [];
  let members = conns;
  if (rooms.length) {
    // a few joins at a time: with presence, every join is an event to every member
    // (N joins, N²/2 frames), a storm this scenario is not about (presence_churn.py is)
    await pool(conns, args.joinConcurrency, (c, i) => c.join(rooms[i % rooms.length], args.joinStyle));
    await Promise.all(conns.map((c) => settle(c, 1.0))); // read what the joins caused
    members = conns.filter((_c, i) => i % rooms.length === 0);
  }
  await emit("READY", { connected: conns.length, failed, errors });
  const go = await readLine();
  if (!go.startsWith("GO")) return conns;
  const deadline = JSON.parse(go.slice(2)).deadline;
  const c0 = cpuSeconds();
  const tGo = now();
  const tally = bcastTally();
  const memberSet = new Set(members);
  const outsiders = conns.filter((c) => !memberSet.has(c));
  const timedOut = await readBroadcasts(members, outsiders, tally, args.expect, deadline);
  const c1 = cpuSeconds();
  const tEnd = now();
  await emit("RESULT", {
    received: tally.lat.length,
    lat_us: tally.lat,
    first_recv: tally.firstRecv,
    last_recv: tally.lastRecv,
    client_cpu_s: c1 - c0,
    wall_s: tEnd - tGo,
    unparsed: tally.bad,
    connected: conns.length,
    members: members.length,
    leaked: tally.leaked,
    other_frames: tally.other,
    clients_timed_out: timedOut,
  });
  return conns;
}

async function modeIdle(args) {
  const [conns, failed, errors] = await openAll(args, args.clients);
  await emit("READY", { connected: conns.length, failed, errors });
  await readLine();
  const alive = conns.filter((c) => !c.closed).length;
  await closeAll(conns);
  await emit("RESULT", { connected: conns.length, alive_at_close: alive });
  return [];
}

// --------------------------------------------------------------------- main

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: "string" },
      proto: { type: "string", default: "plain" },
      hello: { type: "string", default: "" },
      clients: { type: "string" },
      warmup: { type: "string", default: "0.5" },
      duration: { type: "string", default: "5.0" },
      expect: { type: "string", default: "0" },
      rooms: { type: "string", default: "" },
      "join-concurrency": { type: "string", default: "4" },
      "join-style": { type: "string", default: "plain" },
      "connect-concurrency": { type: "string", default: "64" },
      loop: { type: "string", default: "uvloop" }, // driver.py's event-loop choice; no meaning here
      "warm-frames": { type: "string", default: "8000" },
    },
  });
  const fail = (msg) => {
    process.stderr.write(`driver.mjs: ${msg}\n`);
    process.exit(2);
  };
  const num = (name, v, int) => {
    const x = Number(v);
    if (v === undefined || v === "" || !Number.isFinite(x) || (int && !Number.isInteger(x))) {
      fail(`--${name} needs a${int ? "n integer" : " number"}, got ${JSON.stringify(v)}`);
    }
    return x;
  };
  const choice = (name, v, allowed) => {
    if (!allowed.includes(v)) fail(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
    return v;
  };
  if (positionals.length !== 1) fail("one mode expected: calls, bcast or idle");
  if (!values.url) fail("--url is required");
  return {
    mode: choice("mode", positionals[0], ["calls", "bcast", "idle"]),
    url: values.url,
    proto: choice("proto", values.proto, ["plain", "socketio"]),
    hello: values.hello,
    clients: num("clients", values.clients, true),
    warmup: num("warmup", values.warmup),
    duration: num("duration", values.duration),
    expect: num("expect", values.expect, true),
    rooms: values.rooms,
    joinConcurrency: num("join-concurrency", values["join-concurrency"], true),
    joinStyle: choice("join-style", values["join-style"], ["plain", "channels", "socketio", "floorkit"]),
    connectConcurrency: num("connect-concurrency", values["connect-concurrency"], true),
    warmFrames: num("warm-frames", values["warm-frames"], true),
  };
}

async function main() {
  const args = parse();
  const mode = { calls: modeCalls, bcast: modeBcast, idle: modeIdle }[args.mode];
  const conns = await mode(args);
  await closeAll(conns);
  process.exit(0);
}

process.on("SIGTERM", () => process.exit(143));

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
