// The client's options: defaults, and the config element the template tag writes.

export const VERSION = "0.2.0";
export const CONFIG_ID = "floorkit-config";
export const MIN_POLL_INTERVAL = 500; // ms

export const DEFAULTS = {
  url: "/ws/floorkit/", // relative URLs are resolved against the page, http(s) -> ws(s)
  autoconnect: true,
  heartbeat: 20, // seconds; the server's hello says how often to ping
  backoffMin: 0.5, // seconds
  backoffMax: 10, // seconds
  jitter: 0.3, // +-30 %
  helloTimeout: 15, // seconds to wait for hello on a new socket
  callTimeout: 30000, // ms a call waits for its answer, then rejects (kind "timeout"); 0: forever
  waitTimeout: 600000, // ms a call with {wait: true} waits for its jobs' outcome (JOB_TIMEOUT)
  debug: false, // log every frame to the console
  // HTTP fallback (the tag fills these in from floorkit.urls and POLL_INTERVAL)
  windowUrl: null,
  callUrl: null,
  pollUrl: null,
  pollInterval: 0, // ms between polls (at least 500); 0: no fallback
  fallbackAfter: 3, // websockets in a row that never got their hello
  probeMin: 5, // seconds before the first background websocket attempt in HTTP mode
  probeMax: 20, // seconds, the longest wait between two of them
  csrfCookie: "csrftoken",
  csrfHeader: "X-CSRFToken",
  csrfToken: null, // when the cookie is out of reach (CSRF_USE_SESSIONS, HttpOnly)
};

// The options of the page's #floorkit-config element; {} without one, or (logged) when
// it is not JSON.
export function readConfig(root) {
  const element = root.document && root.document.getElementById(CONFIG_ID);
  if (!element) {
    return {};
  }
  try {
    return JSON.parse(element.textContent) || {};
  } catch (exc) {
    console.error("floorkit: #" + CONFIG_ID + " is not valid JSON", exc);
    return {};
  }
}

// A console.debug that logs only while options.debug is set.
export function debugLogger(root, options) {
  return function debug(...args) {
    if (options.debug && root.console) {
      console.debug("[floorkit]", ...args);
    }
  };
}
