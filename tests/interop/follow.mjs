// The official socket.io-client following a room across server processes that die or
// restart (tests/cluster/test_crash_recovery.py, test_rolling_restart.py). The scenario is a
// JSON object in argv[2]: {urls: [..], token, rooms: [..], transports?, extraHeaders?,
// timeoutMs?}.
// Connects to urls[0] and subscribes; whenever the connection is lost, the Manager
// reconnects by itself to the next URL of the list (what a load balancer does for a client
// whose process is gone). Stops after an event whose payload has `last: true`. One JSON line
// per step on stdout: connect (recovered, pid, url), ready, event (raw args: the offset is
// the last), disconnect (reason), connect_error, done / timeout.
import { io } from "socket.io-client";
import { ending, print } from "./ending.mjs";

const scenario = JSON.parse(process.argv[2]);
let current = 0;
let subscribed = false;

const socket = io(scenario.urls[0], {
  auth: { token: scenario.token },
  transports: scenario.transports ?? ["websocket"],
  // e.g. HAProxy's stickiness cookie, to start on a known process
  extraHeaders: scenario.extraHeaders ?? {},
  forceNew: true,
  timeout: 5000,
  reconnectionDelay: 200,
  reconnectionDelayMax: 1000,
  randomizationFactor: 0,
});

const { finish, finished } = ending(socket, scenario.timeoutMs ?? 60000);

socket.on("connect", async () => {
  print({ type: "connect", recovered: socket.recovered, id: socket.id, pid: socket._pid ?? null,
          url: scenario.urls[current] });
  if (!subscribed) {
    subscribed = true;
    for (const room of scenario.rooms ?? []) {
      const ack = await socket.timeout(5000).emitWithAck("subscribe", { room });
      print({ type: "ack", room, ack });
    }
    print({ type: "ready" });
  }
});

function rotate() {
  current = (current + 1) % scenario.urls.length;
  socket.io.uri = scenario.urls[current];
}

socket.on("connect_error", (err) => {
  // A process that is down or draining refuses: the next attempt goes to the next one.
  print({ type: "connect_error", message: err.message, url: scenario.urls[current] });
  rotate();
});

socket.on("disconnect", (reason) => {
  if (finished()) return;
  print({ type: "disconnect", reason, url: scenario.urls[current] });
  rotate();
});

socket.onAny((name, ...args) => {
  print({ type: "event", name, args });
  if (args[0] && args[0].last === true) setTimeout(() => finish("done", 0), 300);
});
