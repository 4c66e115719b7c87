// The master's log writer on its own: bounded lines from an app that never prints a newline, and
// a destination that has failed (a full device) counting what it drops and saying so.

import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { LOG_CONTINUED, LOG_LINE_MAX_BYTES, LogSink } from '../src/observability/log-sink.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('output without newlines is written in bounded lines instead of held in memory', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nuwsgi-sink-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'log');
  const sink = new LogSink(file);
  const worker = new PassThrough();
  sink.follow(worker);
  const total = 10 * LOG_LINE_MAX_BYTES + 123;
  for (let sent = 0; sent < total; sent += 4096) worker.write(Buffer.alloc(Math.min(4096, total - sent), 'z'));
  await turn();
  const written = readFileSync(file, 'latin1');
  const lines = written.split('\n');
  t.is(lines.pop(), '', 'only whole lines are written');
  t.true(lines.length >= 9, `the output became lines as it came (${lines.length})`);
  t.true(lines.every((l) => l.length === LOG_LINE_MAX_BYTES + LOG_CONTINUED.length && l.endsWith(LOG_CONTINUED)), 'each piece is as long as the bound and marked as continued');
  worker.end();
  await turn();
  const joined = readFileSync(file, 'latin1').split(`${LOG_CONTINUED}\n`).join('');
  t.is(joined, 'z'.repeat(total) + '\n', 'the pieces join into exactly what was printed, the last part ended at the end');
});

test('a failed destination drops lines, counts them and says so on stderr', async (t) => {
  const said: string[] = [];
  const stderr = new Writable({ write: (chunk, _e, done) => void (said.push(String(chunk)), done()) });
  // /dev/full: every write fails with ENOSPC, as a full disk does.
  const sink = new LogSink('/dev/full', () => stderr);
  sink.write('one\n');
  await sink.flush(5000);
  sink.write('two\nthree\n');
  t.true(sink.dropped >= 2, `lines dropped are counted (${sink.dropped})`);
  t.regex(said.join(''), /cannot write to the log \/dev\/full \(ENOSPC\): \d+ lines dropped so far/);
});
