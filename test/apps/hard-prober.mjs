// Races a server's start: connects to a unix socket path over and over, as fast as it can, and
// reports what it saw. Started (possibly as another user) before the server binds the path.
//   node hard-prober.mjs SOCKET_PATH MAX_MS
// Stops at the first successful connect (recording the file's mode and owner at that moment),
// after MAX_MS, or on SIGTERM. One attempt per millisecond: far finer than the time from bind()
// to the first listen(), without starving the server it races on a small machine. Prints one JSON line: { counts: {ENOENT, ECONNREFUSED, EACCES, ...},
// connected, mode, uid } and exits 0.
import { lstatSync } from 'node:fs';
import net from 'node:net';

const [path, maxMs = '10000'] = process.argv.slice(2);
const deadline = Date.now() + Number(maxMs);
const counts = {};
let result = { connected: false };

function attempt() {
  if (Date.now() > deadline) return done();
  const sock = net.connect({ path });
  sock.once('connect', () => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      // removed meanwhile
    }
    sock.destroy();
    result = { connected: true, mode: st ? (st.mode & 0o7777).toString(8) : undefined, uid: st?.uid, gid: st?.gid };
    done();
  });
  sock.once('error', (error) => {
    counts[error.code] = (counts[error.code] ?? 0) + 1;
    setTimeout(attempt, 1);
  });
}

function done() {
  process.stdout.write(JSON.stringify({ counts, ...result }) + '\n');
  process.exit(0);
}

process.on('SIGTERM', done);
process.stdout.write('probing\n');
attempt();
