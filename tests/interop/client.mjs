// Interop driver: the official socket.io-client (from /work/main/node_modules) against a
// live server. The scenario is a JSON object in argv[2]:
//   {url, token?, transports, rooms: [..], expectEvents: n, timeoutMs}
// Every step prints one JSON line on stdout: open, connect, connect_error, upgrade, ack, ready,
// event, done / timeout. The pytest side reads the lines and publishes after "ready".
import { io } from "socket.io-client";
import { ending, print } from "./ending.mjs";

const scenario = JSON.parse(process.argv[2]);

const socket = io(scenario.url, {
  auth: scenario.token ? { token: scenario.token } : undefined,
  transports: scenario.transports,
  reconnection: false,
  forceNew: true,
  timeout: 5000,
});

const { finish, finished } = ending(socket, scenario.timeoutMs ?? 10000);
let received = 0;

socket.io.on("open", () => {
  print({ type: "open", transport: socket.io.engine.transport.name });
  socket.io.engine.on("upgrade", (transport) => print({ type: "upgrade", transport: transport.name }));
});

socket.on("connect_error", (err) => {
  print({ type: "connect_error", message: err.message, data: err.data ?? null });
  finish("done", 0);
});

socket.on("connect", async () => {
  print({ type: "connect", transport: socket.io.engine.transport.name, id: socket.id });
  for (const room of scenario.rooms ?? []) {
    try {
      const ack = await socket.timeout(5000).emitWithAck("subscribe", { room });
      print({ type: "ack", room, ack });
    } catch (err) {
      print({ type: "ack_timeout", room, message: String(err) });
    }
  }
  print({ type: "ready", transport: socket.io.engine.transport.name });
  if ((scenario.expectEvents ?? 0) === 0) {
    finish("done", 0);
  }
});

socket.onAny((name, ...args) => {
  print({ type: "event", name, args, transport: socket.io.engine.transport.name });
  received += 1;
  if (received >= (scenario.expectEvents ?? 0)) {
    finish("done", 0);
  }
});

socket.on("disconnect", (reason) => {
  if (!finished()) print({ type: "disconnect", reason });
});
