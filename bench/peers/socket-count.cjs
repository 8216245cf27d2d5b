'use strict';
// Preload (node --require) of bench/cross-peer.mjs: counts the TCP socket reads and writes of this
// process, whatever library makes them, so Quark and rhea are counted the same way.
//
//   reads        'data' events of TCP sockets (one per chunk libuv read from the kernel), and
//                the calls of the `onread` callbacks of sockets made with one (net.connect)
//   readBytes    bytes those events carried
//   writeCalls   socket.write() calls (what the library asked for)
//   handleWrites writes handed to the socket's handle: one per _write or _writev (what reaches
//                libuv, about one send syscall each; corked or queued writes are merged here)
//   writevs      how many of handleWrites were _writev (several buffers in one go)
//   writeBytes   bytes handed to the handle
//
// Only TCP sockets count (their handle has setNoDelay); pipes (stdout, stderr) and the IPC channel
// do not. The counters live on globalThis.__quarkBenchSocketStats; take differences.
/* global require */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload (node --require)
const net = require('node:net');

const stats = { reads: 0, readBytes: 0, writeCalls: 0, handleWrites: 0, writevs: 0, writeBytes: 0 };
globalThis.__quarkBenchSocketStats = stats;

const proto = net.Socket.prototype;
const isTcp = (socket) => typeof socket._handle?.setNoDelay === 'function';

const emit = proto.emit;
proto.emit = function (event, chunk) {
  if (event === 'data' && isTcp(this)) {
    stats.reads++;
    stats.readBytes += chunk.length;
  }
  return emit.apply(this, arguments);
};

// Sockets that read through an `onread` callback emit no 'data' events: count the callback's calls.
for (const name of ['connect', 'createConnection']) {
  const original = net[name];
  net[name] = function (options) {
    const onread = typeof options === 'object' && options !== null ? options.onread : undefined;
    if (onread && typeof onread.callback === 'function') {
      const callback = onread.callback;
      arguments[0] = {
        ...options,
        onread: {
          ...onread,
          callback(length) {
            stats.reads++;
            stats.readBytes += length;
            return callback.apply(this, arguments);
          },
        },
      };
    }
    return original.apply(this, arguments);
  };
}

const write = proto.write;
proto.write = function () {
  if (isTcp(this)) stats.writeCalls++;
  return write.apply(this, arguments);
};

const _write = proto._write;
proto._write = function (data) {
  if (isTcp(this)) {
    stats.handleWrites++;
    stats.writeBytes += data.length;
  }
  return _write.apply(this, arguments);
};

const _writev = proto._writev;
proto._writev = function (chunks) {
  if (isTcp(this)) {
    stats.handleWrites++;
    stats.writevs++;
    for (const c of chunks) stats.writeBytes += c.chunk.length;
  }
  return _writev.apply(this, arguments);
};
