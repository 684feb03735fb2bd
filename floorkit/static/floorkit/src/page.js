// The client's life in the page: it starts when the page has loaded, with the config
// element's options, and retries at once when the network comes back.

import { readConfig } from "./options.js";

// Starts `client` when the page has loaded (after the page's own scripts connected their
// handlers), with the #floorkit-config options, unless autoconnect is false; and listens
// to the "online" event.
export function autostart(client, root) {
  const begin = () => {
    Object.assign(client.options, readConfig(root));
    if (client.options.autoconnect && !client.started) {
      client.start();
    }
  };
  if (root.document && root.document.readyState === "loading") {
    root.document.addEventListener("DOMContentLoaded", begin, { once: true });
  } else {
    begin();
  }
  if (root.addEventListener) {
    root.addEventListener("online", () => client.online());
  }
}
