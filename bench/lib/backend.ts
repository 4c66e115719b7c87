// A backend server process: spawned in its own process group, ready when its output says so,
// stopped with its own graceful signal and SIGKILLed (whole group) if it lingers.
import { spawn, type ChildProcess } from 'node:child_process';
import { childrenOf } from './proc.js';

export interface BackendOptions {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output (stdout + stderr) that means every worker is serving. */
  ready: RegExp;
  /** uWSGI stops on SIGINT (SIGTERM means reload there); the others on SIGTERM. */
  stopSignal: NodeJS.Signals;
  /** Send the stop signal to the whole group (the C responder's children do not watch their parent). */
  signalGroup?: boolean;
  readyTimeoutMs?: number;
}

export interface Backend {
  pid: number;
  /** The worker processes (the leader's children). */
  workers(): number[];
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((c) => killGroup(c)));

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // gone
  }
}

export async function startBackend(o: BackendOptions): Promise<Backend> {
  const child = spawn(o.cmd, o.args, { env: o.env ?? process.env, cwd: o.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  const onData = (d: Buffer) => {
    // Bounded: a chatty server must not grow the bench's memory.
    if (output.length < 1_000_000) output += d.toString();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => live.delete(child));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  const deadline = Date.now() + (o.readyTimeoutMs ?? 20_000);
  while (!o.ready.test(output)) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      killGroup(child);
      const why = spawnError ? String(spawnError) : child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : 'not ready in time';
      throw new Error(`${o.cmd} ${o.args.join(' ')}: ${why}\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      if (o.signalGroup) killGroup(child, o.stopSignal);
      else child.kill(o.stopSignal);
      const timer = setTimeout(() => killGroup(child), 5000);
      await exited;
      clearTimeout(timer);
    }
    killGroup(child); // stragglers of the group, if any
  };
  return {
    pid: child.pid!,
    workers: () => childrenOf(child.pid!),
    output: () => output,
    stop: () => (stopping ??= stop()),
  };
}
