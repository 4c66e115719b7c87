// The HTTP path's upgrade forwarding (src/bridge/upgrade.ts forwardUpgrades): nuwsgi's own
// http.Server listens for 'upgrade' exactly while the app's server does, so Node decides as it
// would for the app's server alone (no listener: the Upgrade request is an ordinary request).
import test from 'ava';
import http from 'node:http';
import { forwardUpgrades, setUpgradeTarget } from '../src/bridge/upgrade.js';

test('the front server has an upgrade listener exactly while the app server has one, and passes events on', async (t) => {
  const app = http.createServer();
  const front = http.createServer();
  setUpgradeTarget(app);
  t.teardown(() => setUpgradeTarget(undefined));
  forwardUpgrades(front);
  t.is(front.listenerCount('upgrade'), 0, 'no app listener: upgrades stay ordinary requests');
  const seen: unknown[] = [];
  const onUpgrade = (req: unknown, socket: unknown, head: unknown) => seen.push([req, socket, head]);
  app.on('upgrade', onUpgrade);
  await Promise.resolve();
  t.is(front.listenerCount('upgrade'), 1);
  app.on('upgrade', () => {});
  await Promise.resolve();
  t.is(front.listenerCount('upgrade'), 1, 'one forwarder however many app listeners');
  front.emit('upgrade', 'req', 'socket', 'head');
  t.deepEqual(seen, [['req', 'socket', 'head']]);
  app.removeAllListeners('upgrade');
  t.is(front.listenerCount('upgrade'), 0, 'the app dropped its listeners: so does the front');
});

test('an app without a server of its own (a bare listener) gets no forwarding', (t) => {
  const front = http.createServer();
  setUpgradeTarget(undefined);
  forwardUpgrades(front);
  t.is(front.listenerCount('upgrade'), 0);
  t.is(front.listenerCount('newListener'), 0);
});
