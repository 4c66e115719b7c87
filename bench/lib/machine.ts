// What the numbers came from: the machine and the versions of everything measured.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function run(cmd: string, args: string[]): string {
  try {
    // nginx -v and friends print their version on stderr.
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`.trim();
  } catch {
    return '';
  }
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  virtualization: string;
  node: string;
  nginx: string;
  wrk: string;
  uwsgi: string;
  python: string;
  cc: string;
  express: string;
  commit: string;
}

export function describeMachine(root: string): Machine {
  const lscpu = run('lscpu', []);
  const field = (name: string) => new RegExp(`^${name}:\\s+(.+)$`, 'm').exec(lscpu)?.[1]?.trim() ?? '';
  let express = '';
  try {
    express = (JSON.parse(readFileSync(`${root}/node_modules/express/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    express = 'not installed';
  }
  const commit = run('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = run('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'bin']) ? ' (+ uncommitted changes in src/)' : '';
  return {
    cpu: field('Model name') || os.cpus()[0]?.model || 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    virtualization: field('Hypervisor vendor') ? `${field('Hypervisor vendor')} guest` : 'bare metal or unknown',
    node: process.version,
    nginx: run('nginx', ['-v']).replace(/^nginx version: /, ''),
    wrk: run('wrk', ['--version']).split('\n')[0].replace(/ \[.*$/, '').replace(/Copyright.*$/, '').trim(),
    uwsgi: run('uwsgi-core', ['--version']),
    python: run('python3', ['--version']).replace(/^Python /, ''),
    cc: run('cc', ['--version']).split('\n')[0],
    express,
    commit: commit + dirty,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores (${m.virtualization}), ${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}, nginx ${m.nginx}, ${m.wrk}, uWSGI ${m.uwsgi} + Python ${m.python}, Express ${m.express}; nuwsgi at ${m.commit}`;
}
