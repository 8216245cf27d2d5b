/** `for await (const link of listener)`: the links peers attach, in order; a loop left early leaves the listener serving. */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Connection, type IncomingLink, type Listener } from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

describe('iterating over a listener', () => {
  it('a loop left early leaves the listener serving: the next loop gets the links attached since, and ends when the listener closes', async () => {
    listener = await listen({ host: '127.0.0.1', port: 0 });
    client = await connect({ url: listener.url, reconnect: false });
    const first = client.createSender('first');
    for await (const link of listener) {
      expect(link.address).toBe('first');
      link.acceptAsReceiver();
      break;
    }
    await first;
    const second = client.createSender('second');
    const third = client.createSender('third');
    const seen: string[] = [];
    const loop = (async (): Promise<void> => {
      for await (const link of listener!) {
        seen.push(link.address ?? '');
        link.acceptAsReceiver();
      }
    })();
    await Promise.all([second, third]);
    expect(seen).toEqual(['second', 'third']);
    await client.close();
    client = undefined;
    await listener.close();
    await loop; // ended by the close, not left waiting
  });

  it('links nobody took are refused when the listener closes, and a loop started after gets none', async () => {
    listener = await listen({ host: '127.0.0.1', port: 0 });
    client = await connect({ url: listener.url, reconnect: false });
    const refused = client.createSender('never-taken').then(
      () => 'attached',
      (e: unknown) => (e as { condition?: string }).condition,
    );
    // Let the attach arrive and wait in the listener's queue.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await listener.close();
    expect(await refused).toBe('amqp:connection:forced');
    const after: IncomingLink[] = [];
    for await (const link of listener) after.push(link);
    expect(after).toEqual([]);
  });
});
