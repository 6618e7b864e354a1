// socket.io with acks as promises. The join token is the only credential; it is sent
// in the connection's auth payload, never in a URL.
import { io } from "/vendor/socket.io.esm.min.js";

export class SignalError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

export function connect(token) {
  const socket = io({ auth: { token }, transports: ["websocket", "polling"],
                      reconnectionDelay: 500, reconnectionDelayMax: 4000 });
  socket.call = (event, payload = {}) => new Promise((resolve, reject) => {
    socket.timeout(10000).emit(event, payload, (err, res) => {
      if (err) return reject(new SignalError("timeout", "the server did not answer"));
      if (res && res.error) return reject(new SignalError(res.error.code, res.error.message));
      resolve(res ? res.ok : undefined);
    });
  });
  return socket;
}
