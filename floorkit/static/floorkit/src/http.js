// floorkit's HTTP endpoints (docs/protocol.md, degraded mode): JSON requests with the
// session cookie, the CSRF token and the window token, and the window endpoint.

import { refusal } from "./errors.js";

export class Endpoints {
  constructor(root, options, cursor) {
    this.root = root;
    this.options = options;
    this.cursor = cursor;
  }

  // Whether the HTTP fallback can work: its URLs configured, polling on, fetch() there.
  available() {
    const options = this.options;
    return !!(
      options.pollInterval > 0 &&
      options.windowUrl &&
      options.callUrl &&
      options.pollUrl &&
      typeof this.root.fetch === "function"
    );
  }

  // The CSRF token: the csrfToken option, else Django's cookie; null without either.
  csrfToken() {
    const options = this.options;
    if (options.csrfToken) {
      return options.csrfToken;
    }
    const document = this.root.document;
    const cookies = document && document.cookie ? document.cookie.split(";") : [];
    for (let i = 0; i < cookies.length; i++) {
      const cookie = cookies[i].trim();
      const equals = cookie.indexOf("=");
      if (equals > 0 && cookie.slice(0, equals) === options.csrfCookie) {
        return decodeURIComponent(cookie.slice(equals + 1));
      }
    }
    return null;
  }

  // fetch() answered with floorkit's JSON: a Promise of {status, body}; rejects on network
  // failure and on answers that are not JSON (a proxy's error page: `error.status`).
  request(url, init) {
    const headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    if (this.cursor.token) {
      headers["X-Floorkit-Window"] = this.cursor.token;
    }
    if (init.method === "POST") {
      const csrf = this.csrfToken();
      if (csrf) {
        headers[this.options.csrfHeader] = csrf;
      }
    }
    const defaults = { credentials: "same-origin", cache: "no-store" };
    const request = Object.assign(defaults, init, { headers: headers });
    return this.root.fetch(url, request).then((response) =>
      response.text().then((text) => {
        let body = null;
        try {
          body = JSON.parse(text);
        } catch (exc) {
          // below
        }
        if (!body || typeof body !== "object") {
          const error = new Error("HTTP " + response.status + " without a JSON answer");
          error.status = response.status;
          throw error;
        }
        return { status: response.status, body: body };
      })
    );
  }

  // A new window (POST windowUrl): a Promise of {window, token, seq, epoch}; a refusal
  // rejects with its FloorkitError (login_required, csrf_failed, ...).
  newWindow() {
    return this.request(this.options.windowUrl, { method: "POST" }).then((answer) => {
      if (answer.body.ok === false || answer.status !== 200) {
        throw refusal(answer.body, null);
      }
      return answer.body;
    });
  }
}
