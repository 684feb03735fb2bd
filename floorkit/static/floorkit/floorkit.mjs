// floorkit as an ES module: `import floorkit, {connect, call} from "/static/floorkit/floorkit.mjs"`.
// The client itself is the classic script floorkit.js (imported here for its side effect:
// it defines window.floorkit once, even if the page also loads it with a <script> tag).
// Live properties (state, mode, window, token, user, seq, epoch) are read on the default export:
// `floorkit.mode`. The API is documented in docs/js.md.
import "./floorkit.js";

const floorkit = globalThis.floorkit;

export default floorkit;
export const connect = floorkit.connect;
export const disconnect = floorkit.disconnect;
export const call = floorkit.call;
export const on = floorkit.on;
export const off = floorkit.off;
export const start = floorkit.start;
export const stop = floorkit.stop;
export const headers = floorkit.headers;
export const FloorkitError = floorkit.FloorkitError;
