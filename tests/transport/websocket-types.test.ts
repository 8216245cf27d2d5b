import { WebSocket, WebSocketServer } from 'ws';
import { expect, it } from 'vitest';
import type { WsModule } from '../../src/transport/websocket-module.js';

it('the ws package fits the part of it Quark declares for itself (tsc checks the assignment)', () => {
  // Quark's published types declare what they use of ws, so that users need no @types/ws; this
  // assignment fails the type check (npm run lint) the day ws's types and Quark's part differ.
  const declared: WsModule = { WebSocket, WebSocketServer };
  expect(
    new declared.WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      handleProtocols: () => false,
    }),
  ).toBeInstanceOf(WebSocketServer);
});
