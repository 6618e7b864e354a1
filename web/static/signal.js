// socket.io with acks as promises. The credential is the join page's HttpOnly session
// cookie (auth: {session}) or a link token (auth: {token}); never in a URL.
import { io } from "/vendor/socket.io.esm.min.js";

export class SignalError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

export function connect(auth) {
  const socket = io({ auth, withCredentials: true, transports: ["websocket", "polling"],
                      reconnectionDelay: 500, reconnectionDelayMax: 2000 });
  followPlacement(socket);
  socket.call = (event, payload = {}) => new Promise((resolve, reject) => {
    socket.timeout(10000).emit(event, payload, (err, res) => {
      if (err) return reject(new SignalError("timeout", "the server did not answer"));
      if (res && res.error) return reject(new SignalError(res.error.code, res.error.message));
      resolve(res ? res.ok : undefined);
    });
  });
  return socket;
}

// A session is served by one node. A node that does not serve ours answers
// "wrong_node" with the URL of the one that does; a node that drains says "moved";
// a node that died stops answering. In each case we go to the right node (or back
// to the entry address, which places the session again) with the same link.
function followPlacement(socket) {
  const manager = socket.io;
  const entry = { uri: manager.uri, path: manager.opts.path };
  let moving = false;
  const go = (uri, path) => {
    manager.uri = uri;
    manager.opts.path = path;
    socket.disconnect();
    socket.connect();
  };
  socket.on("connect_error", (err) => {
    if (err.message !== "wrong_node" || !err.data || !err.data.url) return;
    const to = new URL(err.data.url, location.href);
    if (to.origin !== location.origin) return; // only same-origin nodes (behind the proxy)
    go(to.origin, `${to.pathname.replace(/\/$/, "")}/socket.io`);
  });
  manager.on("reconnect_error", () => {
    if (manager.uri !== entry.uri || manager.opts.path !== entry.path) {
      manager.uri = entry.uri; // our node is gone: the entry places the session anew
      manager.opts.path = entry.path;
    }
  });
  socket.on("notice", (n) => { if (n.kind === "moved") moving = true; });
  socket.on("disconnect", (reason) => {
    if (moving && reason === "io server disconnect") {
      moving = false;
      // Everyone of a drained node is told at once: spread the returns over a short
      // random delay (0.1-0.6 s) and start the back-off afresh, so nobody waits behind it.
      manager.backoff.reset();
      setTimeout(() => go(entry.uri, entry.path), 100 + Math.random() * 500);
    }
  });
}
