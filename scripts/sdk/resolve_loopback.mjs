// Node preload (`node --import ./resolve_loopback.mjs …`): name resolution for the test, and
// nothing else. The platform's host names resolve to the loopback address in
// WXIMG_LOOPBACK (where a `wximg serve --tls-cert … --listen ADDR:443` listens); every other
// name fails to resolve, so nothing can leave the machine. It replaces `dns.lookup`, which
// `net.connect` / `tls.connect` — and so the global `fetch` (undici) — use for every
// connection: the client's code, its `fetch` and its URLs are left exactly as published.
// Trust in the server's certificate comes from the client's own CA setting
// (NODE_EXTRA_CA_CERTS), not from here.
//
// Env: WXIMG_LOOPBACK (required), WXIMG_RESOLVE_NAMES (default
// "api.weixin.qq.com,mmbiz.qpic.cn"), WXIMG_RESOLVE_LOG (optional file: one line per
// lookup, "NAME -> ADDRESS" or "NAME -> refused").

import dns from "node:dns";
import { appendFileSync } from "node:fs";

const address = process.env.WXIMG_LOOPBACK;
if (!address || !/^127\.\d+\.\d+\.\d+$/.test(address)) {
  throw new Error(`resolve_loopback.mjs: WXIMG_LOOPBACK must be a 127.x.y.z address, not ${address}`);
}
const names = new Set(
  (process.env.WXIMG_RESOLVE_NAMES || "api.weixin.qq.com,mmbiz.qpic.cn").split(",").map((n) => n.trim().toLowerCase()),
);
const logFile = process.env.WXIMG_RESOLVE_LOG;
const note = (line) => {
  if (logFile) appendFileSync(logFile, line + "\n");
};

dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  } else if (typeof options === "number") {
    options = { family: options };
  }
  options = options || {};
  const name = String(hostname).toLowerCase();
  if (!names.has(name)) {
    note(`${name} -> refused`);
    const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (test: only the platform's names resolve)`), {
      code: "ENOTFOUND",
      errno: -3008,
      syscall: "getaddrinfo",
      hostname,
    });
    process.nextTick(callback, err);
    return {};
  }
  note(`${name} -> ${address}`);
  if (options.all) {
    process.nextTick(callback, null, [{ address, family: 4 }]);
  } else {
    process.nextTick(callback, null, address, 4);
  }
  return {};
};
