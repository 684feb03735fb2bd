// Socket.IO 4 peer on Node.js (node_socketio): the Node counterpart of
// bench/peers/socketio_server.py, behaving the same on the wire.
//
// * call: socket.io event `call` with an ack; the handler acks
//   {"type":"result","id":N,"ok":true,"results":[kwargs]}
//   (on the wire: client 42<N>["call",{...}], server 43<N>[{...}]);
// * rooms: event `join` with an ack: the socket enters the room, acks true;
// * broadcast: @socket.io/redis-adapter over the `redis` client (one
//   publishing and one subscribing connection), so an emit made elsewhere with
//   @socket.io/redis-emitter (publish.mjs) reaches the sockets of this server
//   (or of one room) through Redis pub/sub.
//
// Websocket transport only, default Engine.IO ping settings (as python-socketio's).
// The port is listened on only once both Redis connections are up, so a
// server that accepts is ready. A Redis error or a failed listen ends the
// process with a non-zero status (run_ws.py reports its log).
//
//     node socketio_server.mjs --port 8002 --redis-url redis://127.0.0.1:6390/0

import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

import { SOCKETIO_KEY } from "./channels.mjs";
import { fatalFor, serverArgs } from "./server_args.mjs";

const args = serverArgs("socketio_server.mjs");
const fatal = fatalFor("socketio_server.mjs");

const pubClient = createClient({ url: args["redis-url"] });
const subClient = pubClient.duplicate();
pubClient.on("error", fatal("redis (publishing connection)"));
subClient.on("error", fatal("redis (subscribing connection)"));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  cors: { origin: "*" },
  adapter: createAdapter(pubClient, subClient, { key: SOCKETIO_KEY }),
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("call", (data, ack) => {
    if (typeof ack !== "function") return;
    ack({ type: "result", id: data?.id, ok: true, results: [data?.kwargs ?? {}] });
  });
});

httpServer.on("error", fatal("listen"));
httpServer.listen({ host: args.host, port: Number(args.port), backlog: 1024 });
