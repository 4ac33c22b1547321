// Connection state recovery with the official socket.io-client (node_modules) against a live
// server. The scenario is a JSON object in argv[2]:
//   {url, token, transports?, rooms: [..], before: n, after: n, rounds?: 1, switchTo?: url,
//    reconnectionDelayMs?: 1000, graceMs?: 500, timeoutMs?: 20000}
// Connects, subscribes, waits for `before` events, then forces the transport closed (as the
// Socket.IO docs' recovery test does) and lets the Manager reconnect by itself, to `switchTo`
// when given (another server process). After each reconnect it waits for `after` events and
// `graceMs` more (to see duplicates), `rounds` times. One JSON line per step on stdout:
// connect (with `recovered` and the pid), ready, event (raw args: the offset is the last),
// dropped, disconnect, done / timeout. The pytest side publishes after "disconnect".
import { io } from "socket.io-client";
import { ending, print } from "./ending.mjs";

const scenario = JSON.parse(process.argv[2]);
const rounds = scenario.rounds ?? 1;
let round = 0; // drops done so far
let received = 0; // events since the last (re)connect

const socket = io(scenario.url, {
  auth: { token: scenario.token },
  transports: scenario.transports ?? ["websocket"],
  forceNew: true,
  timeout: 5000,
  reconnectionDelay: scenario.reconnectionDelayMs ?? 1000,
  randomizationFactor: 0,
});

const { finish, finished } = ending(socket, scenario.timeoutMs ?? 20000);

function drop() {
  round += 1;
  print({ type: "dropped", round, pid: socket._pid ?? null, offset: socket._lastOffset ?? null });
  if (scenario.switchTo) socket.io.uri = scenario.switchTo;
  socket.io.engine.close();
}

function expected() {
  return round === 0 ? scenario.before ?? 0 : scenario.after ?? 0;
}

function next() {
  // Enough events for this stage: drop again, or finish after the grace period.
  if (received < expected()) return;
  if (round < rounds) {
    // After the listeners: the client records an event's offset once they have run.
    setTimeout(drop, 0);
  } else {
    setTimeout(() => finish("done", 0), scenario.graceMs ?? 500);
  }
}

socket.on("connect_error", (err) => {
  print({ type: "connect_error", message: err.message });
  finish("done", 1);
});

socket.on("connect", async () => {
  received = 0;
  print({ type: "connect", round, recovered: socket.recovered, id: socket.id,
          pid: socket._pid ?? null });
  if (round === 0) {
    for (const room of scenario.rooms ?? []) {
      const ack = await socket.timeout(5000).emitWithAck("subscribe", { room });
      print({ type: "ack", room, ack });
    }
    print({ type: "ready" });
  }
  next();
});

socket.onAny((name, ...args) => {
  received += 1;
  print({ type: "event", round, name, args });
  next();
});

socket.on("disconnect", (reason) => {
  if (!finished()) print({ type: "disconnect", round, reason });
});
