// The Node.js reference of the benchmark: a socket.io 4.8 server with the Redis adapter,
// as the reference design's NestJS gateway runs. `subscribe` joins the room and answers
// like the product (`{event: "subscribed", data: {room}}`, as an ack); no authentication,
// no snapshot. Events come from another process through @socket.io/redis-emitter.
//
//   node bench/refs/node/server.js --port P --redis redis://127.0.0.1:6379/13 --prefix K
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

async function main() {
  const port = Number(option("port", "0"));
  const redisUrl = option("redis", "redis://127.0.0.1:6379/0");
  const prefix = option("prefix", "bench-node");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub, { key: prefix }),
    cors: { origin: "*" },
    transports: ["websocket", "polling"],
  });
  io.on("connection", (socket) => {
    socket.on("subscribe", (data, ack) => {
      const room = data && typeof data.room === "string" ? data.room : null;
      if (room === null) {
        if (typeof ack === "function") ack({ event: "error", data: { message: "room" } });
        return;
      }
      socket.join(room);
      const answer = { event: "subscribed", data: { room } };
      if (typeof ack === "function") ack(answer);
      else socket.emit(answer.event, answer.data);
    });
  });
  httpServer.listen(port, "127.0.0.1");
  const stop = () => io.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
