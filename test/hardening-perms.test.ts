// Permissions of the uwsgi socket, raced: probers (test/apps/hard-prober.mjs) connect in a tight
// loop from before the server starts, as root, as the socket's future owner and as a stranger.
// The mode and owner must be in place before anyone can connect: the master binds, chmods and
// chowns, and only then do workers listen. (--uid/--gid dropping every id, saved ones included,
// is checked in e2e-process-manager.test.ts.) A socket in a world-writable directory, where any
// local user could replace it, is warned about at start.

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { shutdown, tempDir } from './helpers/lifecycle.js';
import { FIXTURE_APPS, startServer } from './helpers/server.js';

interface Probe {
  counts: Record<string, number>;
  connected: boolean;
  mode?: string;
  uid?: number;
  gid?: number;
}

const NOBODY = 65534;
const STRANGER = 1; // daemon

function nogroup(): number {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => /^(nogroup|nobody):/.test(l));
  if (!line) throw new Error('no nogroup/nobody group in /etc/group');
  return Number(line.split(':')[2]);
}

/** Start a prober (as `uid`) on `socketPath`; resolves once it is looping, with a stop() and its report. */
async function prober(t: ExecutionContext, socketPath: string, uid: number, maxMs: number): Promise<{ stop(): void; report: Promise<Probe> }> {
  const child = spawn(process.execPath, [path.join(FIXTURE_APPS, 'hard-prober.mjs'), socketPath, String(maxMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(uid !== 0 && { uid, gid: uid === NOBODY ? nogroup() : uid }),
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`prober exited ${code}`)));
  });
  const report = new Promise<Probe>((resolve) => child.once('exit', () => resolve(JSON.parse(out.split('\n')[1]) as Probe)));
  return { stop: () => void child.kill('SIGTERM'), report };
}

test.serial('socket mode and owner are in place before the first accept: racing connects never get in early (--umask 000 --chmod-socket 600 --chown-socket nobody)', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'raced.sock');
  // Started before the server: each loops until it connects or 15 s pass.
  const [asRoot, asOwner, asStranger] = await Promise.all([prober(t, socketPath, 0, 20_000), prober(t, socketPath, NOBODY, 20_000), prober(t, socketPath, STRANGER, 20_000)]);
  const server = await startServer({
    app: 'hard-app.mjs',
    chmodSocket: false,
    // umask 000: the file is created 0777 by bind(); only the chmod closes it.
    args: ['--socket', socketPath, '--umask', '000', '--chmod-socket=600', '--chown-socket', `nobody:${nogroup()}`],
  });
  t.teardown(() => shutdown(server));
  // The stranger never gets in: stop it once the others have (the server is serving by then).
  const [root, owner] = await Promise.all([asRoot.report, asOwner.report]);
  asStranger.stop();
  const stranger = await asStranger.report;
  t.log(`root: ${JSON.stringify(root)}\nnobody: ${JSON.stringify(owner)}\ndaemon: ${JSON.stringify(stranger)}`);
  for (const [who, probe] of [
    ['root', root],
    ['the owner', owner],
  ] as const) {
    t.true(probe.connected, `${who} got in once the server was up`);
    t.is(probe.mode, '600', `${who}'s first connect saw mode ${probe.mode}`);
    t.is(probe.uid, NOBODY, `${who}'s first connect saw owner ${probe.uid}`);
  }
  t.true((root.counts.ECONNREFUSED ?? 0) > 0, 'the race was run: root saw the socket file while nothing accepted on it yet');
  t.false(stranger.connected, 'a stranger never gets in, not even in the instant after bind()');
  t.true((stranger.counts.EACCES ?? 0) > 0, `the stranger was refused by the mode: ${JSON.stringify(stranger.counts)}`);
});

test('a socket in a world-writable directory gets a warning at start; a private directory none', async (t) => {
  const open = tempDir(t);
  chmodSync(open, 0o777);
  const risky = await startServer({ app: 'hard-app.mjs', args: ['--socket', path.join(open, 'risky.sock')] });
  t.teardown(() => shutdown(risky));
  t.regex(risky.output(), new RegExp(`WARNING.*${open.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*world-writable`));
  const safe = await startServer({ app: 'hard-app.mjs' });
  t.teardown(() => shutdown(safe));
  t.notRegex(safe.output(), /world-writable/);
});
