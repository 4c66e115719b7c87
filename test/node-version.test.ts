// Which Node this run of the suite is on (scripts/test-node-versions.sh runs it once per line that
// package.json's engines names), and that the native addon, built once, loads on it.

import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../src/native/binding.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const major = Number(process.versions.node.split('.')[0]);

test(`this run is on Node ${process.version}, a line that engines names`, (t) => {
  t.log(`node ${process.version} (${process.execPath})`);
  const expected = process.env.NUWSGI_EXPECT_NODE_MAJOR;
  if (expected) t.is(major, Number(expected), 'the run is on the Node line it asked for');
  const engines: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines.node;
  const lines = (engines.match(/\d+/g) ?? []).map(Number);
  t.true(lines.includes(major), `engines (${engines}) names Node ${major}`);
});

test('the N-API addon loads on this Node', (t) => {
  const { binding, error } = loadNative();
  t.is(error, undefined, 'no load error');
  t.truthy(binding, `native/build/Release/nuwsgi_native.node loads on Node ${process.version}`);
});
