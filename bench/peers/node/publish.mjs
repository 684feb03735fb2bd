// Broadcast publisher of the Node peers, run as its own process: the Node
// counterpart of bench/peers/publish.py, same arguments, same output.
//
//     node publish.mjs --peer node_socketio|node_ws --redis-url URL
//                      --count M [--rate R] [--room ROOM]
//
// Sends M payloads {"bench_seq": i, "bench_ts": <epoch seconds>} as fast as
// possible (--rate 0) or paced at R messages/s, through the peer's own publish
// path (to the members of ROOM only, with --room), then prints one JSON line
// {"t0":..,"t1":..,"sent":M}:
//
// * node_socketio: @socket.io/redis-emitter's emit("bcast", payload) (or
//   .to(ROOM).emit(...)) with the adapter's key, which the server's
//   @socket.io/redis-adapter fans out;
// * node_ws: PUBLISH bench:broadcast (or bench:room:<ROOM>) <json>, as for
//   bench/peers/bare_server.py.
//
// Each message's PUBLISH is answered by Redis before the next is sent, as
// with publish.py's redis-py client. Exit code 2: bad arguments; 1: Redis
// failed.

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

import { BROADCAST_CHANNEL, ROOM_PREFIX, SOCKETIO_KEY } from "./channels.mjs";

const now = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

const fail = (msg) => {
  process.stderr.write(`publish.mjs: ${msg}\n`);
  process.exit(2);
};
const { values: args } = parseArgs({
  options: {
    peer: { type: "string" },
    "redis-url": { type: "string" },
    count: { type: "string" },
    rate: { type: "string", default: "0" },
    room: { type: "string" },
  },
});
const count = Number(args.count);
const rate = Number(args.rate);
if (!["node_socketio", "node_ws"].includes(args.peer)) fail("--peer must be node_socketio or node_ws");
if (!args["redis-url"]) fail("--redis-url is required");
if (!Number.isInteger(count) || count < 0) fail("--count needs a non-negative integer");
if (!Number.isFinite(rate) || rate < 0) fail("--rate needs a non-negative number");

const client = createClient({ url: args["redis-url"] });
client.on("error", (err) => {
  process.stderr.write(`publish.mjs: redis: ${err?.stack ?? err}\n`);
  process.exit(1);
});
await client.connect();

let send;
if (args.peer === "node_socketio") {
  // the emitter does not return PUBLISH's reply: keep it, to await it
  let reply = null;
  const recording = { publish: (channel, msg) => (reply = client.publish(channel, msg)) };
  const emitter = new Emitter(recording, { key: SOCKETIO_KEY });
  const target = args.room ? emitter.to(args.room) : emitter;
  send = (payload) => {
    target.emit("bcast", payload);
    return reply;
  };
} else {
  const channel = args.room ? ROOM_PREFIX + args.room : BROADCAST_CHANNEL;
  send = (payload) => client.publish(channel, JSON.stringify(payload));
}

const t0 = now();
for (let i = 0; i < count; i++) {
  if (rate > 0) {
    const delay = t0 + i / rate - now();
    if (delay > 0) await sleep(delay);
  }
  await send({ bench_seq: i, bench_ts: now() });
}
const t1 = now();
await client.quit();
process.stdout.write(`${JSON.stringify({ t0, t1, sent: count })}\n`);
