// The Node.js reference's open-loop publisher: @socket.io/redis-emitter, driven like
// bench/clients/publisher.py (one JSON command per stdin line, one JSON reply per stdout
// line: warm, run {rate, duration}, quit). Each event carries its `seq` and its send time
// `t` on CLOCK_MONOTONIC (process.hrtime, the clock of Python's time.monotonic()).
//
//   node bench/refs/node/publisher.js --redis URL --prefix K --room R --payload JSON
"use strict";

const readline = require("node:readline");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

const EVENT = "machine:status";

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const monotonic = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

async function main() {
  const room = option("room", "machines:all");
  const template = JSON.parse(option("payload", "{}"));
  const client = createClient({ url: option("redis", "redis://127.0.0.1:6379/0") });
  await client.connect();
  const emitter = new Emitter(client, { key: option("prefix", "bench-node") });
  let seq = 0;

  function next() {
    const payload = { ...template, seq: String(seq).padStart(10, "0"), t: monotonic().toFixed(6) };
    seq += 1;
    return payload;
  }

  async function run(command) {
    const rate = Number(command.rate);
    const count = Math.max(1, Math.floor(rate * Number(command.duration)));
    const cpu0 = cpuSeconds();
    const t0 = monotonic() + 0.02;
    const firstSeq = seq;
    let late = 0;
    let lagMax = 0;
    for (let i = 0; i < count; i += 1) {
      const due = t0 + i / rate;
      const now = monotonic();
      if (due > now) await sleep(due - now);
      else if (now - due > 0.010) {
        late += 1;
        lagMax = Math.max(lagMax, now - due);
      }
      emitter.to(room).emit(EVENT, next());
    }
    const elapsed = monotonic() - t0;
    const peek = { ...template, seq: String(seq).padStart(10, "0"), t: monotonic().toFixed(6) };
    return {
      sent: count,
      t0,
      first_seq: firstSeq,
      published_total: seq,
      seconds: Number(elapsed.toFixed(4)),
      rate: Number((count / elapsed).toFixed(2)),
      late_ratio: Number((late / count).toFixed(4)),
      lag_max_ms: Number((lagMax * 1000).toFixed(2)),
      cpu_s: Number((cpuSeconds() - cpu0).toFixed(3)),
      payload_bytes: Buffer.byteLength(JSON.stringify(peek)),
    };
  }

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    let command;
    try {
      command = JSON.parse(line);
    } catch {
      continue;
    }
    if (command.cmd === "quit") break;
    let reply;
    try {
      if (command.cmd === "run") reply = await run(command);
      else if (command.cmd === "warm") reply = { ok: true };
      else throw new Error(`unknown command ${command.cmd}`);
    } catch (error) {
      reply = { error: String(error) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  }
  await client.quit();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
