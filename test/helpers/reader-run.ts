// Feeding bytes to a PacketReader and recording every event it delivers, for the reader's unit
// and property tests.

import { PacketReader, type PacketHeader, type ProtocolError, type ReaderLimits, type UwsgiVars } from '../../src/protocol/index.js';

export const LIMITS: ReaderLimits = { bufferSize: 65535, maxVars: 1000 };

export type Event =
  | { type: 'ping'; header: PacketHeader }
  | { type: 'request'; header: PacketHeader; vars: UwsgiVars; bodyLength: number }
  | { type: 'body'; chunk: Buffer }
  | { type: 'end' }
  | { type: 'error'; error: ProtocolError };

export interface Run {
  events: Event[];
  /** Event names, consecutive body chunks merged: ['request', 'body', 'end']. */
  names: string[];
  body: Buffer;
  request?: Extract<Event, { type: 'request' }>;
  error?: ProtocolError;
  thrown: unknown[];
  reader: PacketReader;
}

export function run(chunks: Buffer[], limits: ReaderLimits = LIMITS): Run {
  const events: Event[] = [];
  const reader = new PacketReader(limits, {
    onPing: (header) => events.push({ type: 'ping', header: { ...header } }),
    onRequest: (header, vars, bodyLength) => events.push({ type: 'request', header: { ...header }, vars, bodyLength }),
    onBody: (chunk) => events.push({ type: 'body', chunk: Buffer.from(chunk) }),
    onBodyEnd: () => events.push({ type: 'end' }),
    onError: (error) => events.push({ type: 'error', error }),
  });
  const thrown: unknown[] = [];
  for (const c of chunks) {
    try {
      reader.push(c);
    } catch (e) {
      thrown.push(e);
    }
  }
  const names = events.map((e) => e.type).filter((n, i, all) => n !== 'body' || all[i - 1] !== 'body');
  const body = Buffer.concat(events.flatMap((e) => (e.type === 'body' ? [e.chunk] : [])));
  return {
    events,
    names,
    body,
    request: events.find((e): e is Extract<Event, { type: 'request' }> => e.type === 'request'),
    error: events.find((e): e is Extract<Event, { type: 'error' }> => e.type === 'error')?.error,
    thrown,
    reader,
  };
}
