// written(): resolves when what was written has left, also for a backlog too small to make the
// stream emit 'drain' (which only follows a write that returned false).

import test from 'ava';
import { Writable } from 'node:stream';
import { written } from '../src/written.js';

test('resolves once a small pending write completes, with no drain ever emitted', async (t) => {
  let release!: () => void;
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(_chunk, _encoding, done) {
      // The first write is held until the test lets it go, as a slow reader holds a pipe.
      if (!release) release = done;
      else done();
    },
  });
  let drained = false;
  sink.on('drain', () => (drained = true));
  t.true(sink.write('a line\n'), 'below highWaterMark: no drain will follow');
  let done = false;
  // Bounded far beyond ava's own timeout: only the write's completion can end this wait in time.
  const wait = written(sink, 3_600_000).then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.false(done, 'still waiting while the write is pending');
  release();
  await wait;
  t.true(done);
  t.false(drained, "it was the write's completion, not a drain, that ended the wait");
});

test('resolves at once when nothing is pending', async (t) => {
  const sink = new Writable({ write: (_c, _e, done) => done() });
  await written(sink, 3_600_000);
  t.pass();
});
