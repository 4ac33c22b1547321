// A client written literally after the reference design (vendhub-realtime-design.md, the
// Zustand store and the live map): `socket.emit("subscribe", {room})` with no ack callback,
// the answer awaited as a `subscribed` event, and `socket.on("machine:status")` for the
// live map. argv[2] is {url, token, rooms, expectStatuses, timeoutMs}. Every step prints a
// JSON line: connect, subscribed, unsubscribed, error, ready, machine:status, done/timeout.
import { io } from "socket.io-client";
import { ending, print } from "./ending.mjs";

const scenario = JSON.parse(process.argv[2]);

const socket = io(scenario.url, {
  auth: { token: scenario.token },
  transports: ["websocket", "polling"],
  reconnection: false,
});

let statuses = 0;
const pending = new Set(scenario.rooms);
const { finish } = ending(socket, scenario.timeoutMs ?? 10000);

socket.on("connect", () => {
  print({ type: "connect" });
  for (const room of scenario.rooms) socket.emit("subscribe", { room });
});
socket.on("connect_error", (error) => { print({ type: "connect_error", message: error.message }); finish("done", 1); });
function answered(room) {
  pending.delete(room);
  if (pending.size === 0) print({ type: "ready" });
}
socket.on("subscribed", (data) => {
  print({ type: "subscribed", data });
  answered(data.room);
});
socket.on("unsubscribed", (data) => print({ type: "unsubscribed", data }));
socket.on("error", (data) => {
  print({ type: "error", data });
  if (data && data.request === "subscribe") answered(data.room);
});
socket.on("machine:status", (data) => {
  print({ type: "machine:status", data });
  statuses += 1;
  if (statuses >= (scenario.expectStatuses ?? 1)) finish("done", 0);
});
