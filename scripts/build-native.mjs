#!/usr/bin/env node
// Builds the optional native fast path (native/ -> native/build/Release/nuwsgi_native.node) at
// `npm install`. It is optional: whatever goes wrong (no compiler, no headers, no node-gyp), the
// install still succeeds with one line saying why, and nuwsgi runs on its pure TypeScript path.
// Plain .mjs, not TypeScript: it runs at install time, before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const output = path.join(nativeDir, 'build/Release/nuwsgi_native.node');
const logFile = path.join(nativeDir, 'build/build-native.log');

function giveUp(reason) {
  process.stderr.write(`nuwsgi: native fast path not built (${reason}); the pure TypeScript path will be used\n`);
  process.exit(0);
}

/** node-gyp as npm runs it, else npm's bundled copy next to this node, else npx. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  for (const lib of [path.join(prefix, 'lib/node_modules'), path.join(path.dirname(process.execPath), 'node_modules')]) {
    const bundled = path.join(lib, 'npm/node_modules/node-gyp/bin/node-gyp.js');
    if (existsSync(bundled)) return [process.execPath, bundled];
  }
  return ['npx', '--yes', 'node-gyp'];
}

/** The running node's own headers when it has them: node-gyp would otherwise download them. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** The line of a failed build that says the most: the compiler's first error, else gyp's. */
function reasonOf(log) {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const pick = lines.find((l) => /\berror\b/i.test(l) && !/^gyp ERR!/.test(l)) ?? lines.find((l) => /^gyp ERR! stack Error:/.test(l)) ?? lines.find((l) => /^gyp ERR!/.test(l));
  return (pick ?? 'node-gyp failed').replace(/^gyp ERR! (stack )?/, '').slice(0, 200);
}

if (process.env.NUWSGI_NO_NATIVE && process.env.NUWSGI_NO_NATIVE !== '0') {
  process.stderr.write('nuwsgi: NUWSGI_NO_NATIVE is set: native fast path not built; the pure TypeScript path will be used\n');
  process.exit(0);
}
if (process.platform !== 'linux') giveUp(`it needs Linux, this is ${process.platform}`);

const [cmd, ...pre] = findNodeGyp();
const run = spawnSync(cmd, [...pre, 'rebuild', ...nodedirArgs()], {
  cwd: nativeDir,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
  timeout: 300_000,
});
const log = `${run.stdout ?? ''}${run.stderr ?? ''}`;
try {
  mkdirSync(path.dirname(logFile), { recursive: true });
  writeFileSync(logFile, log);
} catch {
  // the log is a convenience
}
if (run.error) giveUp(`cannot run node-gyp: ${run.error.message}`);
if (run.status !== 0) giveUp(`${reasonOf(log)}; full log in native/build/build-native.log`);
if (!existsSync(output)) giveUp('node-gyp succeeded but produced no nuwsgi_native.node');

// A binary that does not load (wrong headers, missing symbol) must not stay where nuwsgi looks.
try {
  createRequire(import.meta.url)(output);
} catch (e) {
  rmSync(output, { force: true });
  giveUp(`the built addon does not load: ${String(e.message).split('\n')[0]}`);
}
process.stderr.write(`nuwsgi: native fast path built (${path.relative(root, output)})\n`);
