/**
 * A tiny in-process relay for the samples (`--embedded`): messages sent to an address go to the
 * receivers of that address, round robin, in order; messages with no receiver yet wait in memory.
 * Nothing is persisted, nothing is redelivered. It stands in for a broker until the real embedded
 * broker replaces it.
 */
import { listen, type Listener, type Message, type Sender } from '../../src/index.js';

interface Queue {
  messages: Message[];
  consumers: Sender[];
  next: number;
}

/** Starts the relay on 127.0.0.1 (`port` 0, the default, picks a free port; see `listener.url`). */
export async function startRelay(port = 0): Promise<Listener> {
  const listener = await listen({ port });
  const queues = new Map<string, Queue>();
  const queueOf = (address: string): Queue => {
    let q = queues.get(address);
    if (!q) queues.set(address, (q = { messages: [], consumers: [], next: 0 }));
    return q;
  };
  const pump = (q: Queue): void => {
    while (q.messages.length > 0) {
      const ready = q.consumers.filter((c) => c.isOpen && c.credit > 0);
      if (ready.length === 0) return;
      const consumer = ready[q.next++ % ready.length]!;
      consumer.send(q.messages.shift()!).catch(() => undefined); // at most once: a lost consumer loses it
    }
  };
  listener.links$.subscribe((link) => {
    const q = queueOf(link.address ?? '');
    if (link.role === 'receiver') {
      // The peer sends to the address: take its messages and pass them on.
      const receiver = link.acceptAsReceiver({ credit: 100 });
      receiver.deliveries$().subscribe({
        next: (delivery) => {
          q.messages.push(delivery.message);
          if (receiver.isOpen) delivery.accept();
          pump(q);
        },
        error: () => undefined,
      });
    } else {
      // The peer receives from the address: send it what waits, as its credit allows.
      const consumer = link.acceptAsSender();
      q.consumers.push(consumer);
      consumer.events$.subscribe((e) => {
        if (e.type === 'sendable') pump(q);
        else if (e.type === 'linkClosed') q.consumers.splice(q.consumers.indexOf(consumer), 1);
      });
    }
  });
  return listener;
}

/**
 * The samples' command line: `[URL] [--embedded]`. The URL's path is the address (default
 * `amqp://localhost:5672/examples`). With `--embedded`, a relay is started in this process and
 * the URL points at it.
 */
export async function sampleTarget(argv: string[] = process.argv.slice(2)): Promise<{ url: string; address: string; relay: Listener | undefined }> {
  const embedded = argv.includes('--embedded');
  const given = argv.find((a) => !a.startsWith('--')) ?? 'amqp://localhost:5672/examples';
  const parsed = new URL(/^[a-z]+:\/\//i.test(given) ? given : `amqp://${given}`);
  const address = decodeURIComponent(parsed.pathname.slice(1)) || 'examples';
  if (!embedded) return { url: given, address, relay: undefined };
  const relay = await startRelay();
  return { url: `${relay.url}/${address}`, address, relay };
}
