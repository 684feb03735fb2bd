// The error kinds and FloorkitError, the one error type calls reject with and the
// "error" event carries.

// floorkit/errors.py KINDS, {kind: {status, refusal, origin}}: empty in the source, the
// build writes the table in.
export const KINDS = {}; // @generated: KINDS

// Every kind this client uses is in KINDS (the build refuses any other), including
// those of "error" events only it raises (origin "event").

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
