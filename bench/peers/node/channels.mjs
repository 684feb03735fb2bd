// Redis names shared by the Node peers and their publisher (publish.mjs).

// @socket.io/redis-adapter's and @socket.io/redis-emitter's `key` (channel prefix)
export const SOCKETIO_KEY = "bench-node-socketio";
// node_ws: the same channels as bench/peers/bare_server.py
export const BROADCAST_CHANNEL = "bench:broadcast";
export const ROOM_PREFIX = "bench:room:";
