// Bare `ws` peer on Node.js (node_ws): the non-Python floor, the same protocol
// as bench/peers/bare_server.py.
//
// * call: each text frame {"type":"call","id":N,"signal":"bench.echo","kwargs":{...}}
//   is answered with {"type":"result","id":N,"ok":true,"results":[kwargs]};
// * broadcast: one Redis subscriber connection listens on `bench:broadcast`
//   and sends every message verbatim, as a text frame, to every connected
//   socket, one after the other;
// * rooms: {"join": ROOM} puts the socket in ROOM (no reply); a message on
//   `bench:room:<ROOM>` (the same subscriber, pattern-subscribed) goes to the
//   sockets of that room only.
//
// A frame that is not JSON, or a socket error, closes that socket only.
// The port is listened on only once the subscriptions are in place, so a
// server that accepts is ready; a Redis error or a failed listen ends the
// process with a non-zero status.
//
//     node ws_server.mjs --port 8001 --redis-url redis://127.0.0.1:6390/0

import { createClient } from "redis";
import WebSocket, { WebSocketServer } from "ws";

import { BROADCAST_CHANNEL, ROOM_PREFIX } from "./channels.mjs";
import { fatalFor, serverArgs } from "./server_args.mjs";

const args = serverArgs("ws_server.mjs");
const fatal = fatalFor("ws_server.mjs");

const clients = new Set(); // every open socket
const rooms = new Map(); // room -> Set of sockets
const roomsOf = new WeakMap(); // socket -> Set of its rooms

function fanout(targets, data) {
  for (const ws of targets) {
    if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: false });
  }
}

const sub = createClient({ url: args["redis-url"] });
sub.on("error", fatal("redis"));
await sub.connect();
const BUFFERS = true; // messages as Buffers: sent on as they came, no decode/encode
await sub.subscribe(BROADCAST_CHANNEL, (data) => fanout(clients, data), BUFFERS);
await sub.pSubscribe(
  `${ROOM_PREFIX}*`,
  (data, channel) => {
    const members = rooms.get(channel.toString().slice(ROOM_PREFIX.length));
    if (members) fanout(members, data);
  },
  BUFFERS,
);

const wss = new WebSocketServer({
  host: args.host,
  port: Number(args.port),
  backlog: 1024,
  clientTracking: false, // `clients` above
});
wss.on("error", fatal("listen"));

wss.on("connection", (ws) => {
  clients.add(ws);
  ws.on("error", () => ws.terminate());
  ws.on("message", (raw, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      ws.terminate();
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if ("join" in msg) {
      const room = String(msg.join);
      let members = rooms.get(room);
      if (!members) rooms.set(room, (members = new Set()));
      members.add(ws);
      let mine = roomsOf.get(ws);
      if (!mine) roomsOf.set(ws, (mine = new Set()));
      mine.add(room);
    } else if (msg.type === "call") {
      ws.send(JSON.stringify({ type: "result", id: msg.id, ok: true, results: [msg.kwargs ?? {}] }));
    }
  });
  ws.on("close", () => {
    clients.delete(ws);
    for (const room of roomsOf.get(ws) ?? []) {
      const members = rooms.get(room);
      members?.delete(ws);
      if (members?.size === 0) rooms.delete(room);
    }
  });
});
