// What every interop script does around its socket.io-client socket: one JSON line per step
// on stdout, and one ending whichever comes first (`done` from the script, or `timeout`
// after `timeoutMs`): its line printed once, the socket closed, the process exited with the
// ending's code.
export const print = (record) => process.stdout.write(JSON.stringify(record) + "\n");

export function ending(socket, timeoutMs) {
  let over = false;
  const timer = setTimeout(() => finish("timeout", 2), timeoutMs);
  function finish(type, code) {
    if (over) return;
    over = true;
    clearTimeout(timer);
    print({ type });
    socket.disconnect();
    setTimeout(() => process.exit(code), 50);
  }
  return { finish, finished: () => over };
}
