/**
 * Frame tracing, like Qpid Proton's PN_TRACE_FRM: with `DEBUG=quark:frames`, every frame sent
 * and received is printed decoded. SASL responses are redacted: credentials never reach a log.
 */
import { inspect } from 'node:util';
import { debugLog } from '../runtime/debug-log.js';

export const frameLog = debugLog('quark:frames');

const REDACTED_FIELDS = new Set(['initialResponse', 'response']);

/** Prints one frame (`->` sent, `<-` received) when tracing is on. */
export function traceFrame(
  direction: '->' | '<-',
  channel: number,
  performative: object | undefined,
  payloadLength: number,
): void {
  if (performative === undefined) {
    frameLog('%s [%d] (empty frame)', direction, channel);
    return;
  }
  const shown: Record<string, unknown> = {};
  let name = 'frame';
  for (const [key, value] of Object.entries(performative)) {
    if (key === 'kind') name = String(value);
    else if (value === undefined) continue;
    else if (REDACTED_FIELDS.has(key) && value instanceof Uint8Array) shown[key] = `<${value.length} bytes redacted>`;
    else shown[key] = value;
  }
  const payload = payloadLength > 0 ? ` (${payloadLength} bytes of payload)` : '';
  frameLog('%s [%d] %s %s%s', direction, channel, name, inspect(shown, { depth: 4, breakLength: Infinity }), payload);
}
