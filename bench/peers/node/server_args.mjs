// What both Node peer servers take on their command line, and how they fail.

import { parseArgs } from "node:util";

// `--port` and `--redis-url` (both required; exit 2 naming the script without them)
// and `--host` (default 127.0.0.1).
export function serverArgs(script) {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "redis-url": { type: "string" },
    },
  });
  if (!values.port || !values["redis-url"]) {
    process.stderr.write(`${script}: --port and --redis-url are required\n`);
    process.exit(2);
  }
  return values;
}

// An error handler that ends the process with status 1, saying what failed.
export const fatalFor = (script) => (what) => (err) => {
  process.stderr.write(`${script}: ${what}: ${err?.stack ?? err}\n`);
  process.exit(1);
};
