// The Node internals the bridge and the master rely on, checked on the Node this run is on
// (the suite runs on every line engines names).

import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertNodeInternals, checkNodeInternals } from '../src/node-internals.js';

const INTERNALS = fileURLToPath(new URL('../src/node-internals.js', import.meta.url));

test(`every internal nuwsgi relies on is there on Node ${process.version}`, (t) => {
  t.deepEqual(checkNodeInternals(), []);
  t.notThrows(() => assertNodeInternals());
});

test('a Node without one of them fails loudly, naming the internal and the Node version', (t) => {
  // A Node whose IncomingMessage lost _addHeaderLines, as a future release might.
  const script = `delete (await import('node:http')).IncomingMessage.prototype._addHeaderLines;
    const m = await import(${JSON.stringify(path.resolve(INTERNALS))});
    try { m.assertNodeInternals(); console.log('no error'); } catch (e) { console.log(e.message); }`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.regex(run.stdout, new RegExp(`cannot run on Node ${process.version.replace(/\./g, '\\.')}: the Node internals http\\.IncomingMessage\\.prototype\\._addHeaderLines changed`));
});
