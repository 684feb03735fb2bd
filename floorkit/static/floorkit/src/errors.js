// The error kinds and FloorkitError, the one error type calls reject with and the
// "error" event carries.

// floorkit/errors.py KINDS, {kind: {status, refusal, origin}}: empty in the source, the
// build writes the table in.
export const KINDS = {}; // @generated: KINDS

// The kinds of "error" events only this client raises (never a call's outcome, never on
// the wire): a JS handler threw, the websocket failed or sent a frame that is not JSON,
// a server's error without a kind. The build refuses any other kind not in KINDS.
export const CLIENT_KINDS = ["handler_error", "socket", "bad_frame", "error"];

export class FloorkitError extends Error {
  constructor(kind, message, errorId, signal) {
    super(message);
    this.name = "FloorkitError";
    this.kind = kind;
    this.errorId = errorId == null ? null : errorId;
    this.signal = signal == null ? null : signal;
  }
}

// The FloorkitError of floorkit's JSON error answer (an HTTP body or an error frame).
export function refusal(body, signal) {
  return new FloorkitError(body.kind || "error", body.message || "", body.error_id, signal);
}
