// A rhea sender in a process of its own (a peer that is not Quark, with its own event loop, as a
// user would run it): listens on 127.0.0.1, and to each receiver that attaches sends COUNT
// unsettled 100-byte messages (byte 0 = sequence & 0xff), keeping at most WINDOW (default 1: each
// once the one before was accepted) unaccepted. Prints "port N" once listening, and "done <json>"
// once every message was accepted, with the round-trip times in ms (WINDOW 1 only).
//   node rhea-sender.mjs COUNT [WINDOW]
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import rhea from 'rhea';

const count = Number(process.argv[2]);
const window = Number(process.argv[3] ?? 1);
const container = rhea.create_container({ id: 'rhea-sender' });
container.on('error', () => {}); // the receiver closing is not this program's failure
container.on('sender_open', (context) => {
  const sender = context.sender;
  let sent = 0;
  let accepted = 0;
  let sentAt = 0;
  const roundTrips = [];
  const sendOne = () => {
    sentAt = performance.now();
    sender.send({ body: rhea.message.data_section(Buffer.alloc(100, sent++ & 0xff)) });
  };
  // rhea writes its own attach of a link the peer opened a turn later, but a transfer at once:
  // sending from the first flow would put a transfer before the attach.
  let ready = false;
  setImmediate(() => {
    ready = true;
    pump();
  });
  const pump = () => {
    while (ready && sent < count && sent - accepted < window && sender.sendable()) sendOne();
  };
  sender.on('sendable', pump);
  sender.on('accepted', () => {
    accepted++;
    roundTrips.push(performance.now() - sentAt);
    pump();
    if (accepted === count) console.log(`done ${JSON.stringify({ roundTrips })}`);
  });
});
const listener = container.listen({ port: 0, host: '127.0.0.1' });
listener.on('listening', () => console.log(`port ${listener.address().port}`));
