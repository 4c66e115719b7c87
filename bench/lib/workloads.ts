// The workloads of issue 8 and which stacks serve each.
import type { AppId, StackId } from './stacks.js';

export type WorkloadId = 'hello' | 'json' | 'download' | 'upload' | 'async' | 'express';

export interface Workload {
  id: WorkloadId;
  label: string;
  app: AppId;
  method: 'GET' | 'POST';
  path: string;
  connections: number;
  /** wrk's per-request timeout (default 2s). */
  timeout?: string;
  /** wrk Lua script under bench/wrk/. */
  script?: string;
  /** Bytes the client sends (checked once per stack and round before loading). */
  requestBytes?: number;
  /** What a correct response body is, checked before loading. */
  expect(body: Buffer): boolean;
  stacks: StackId[];
}

const ALL: StackId[] = ['nuwsgi-uwsgi', 'nuwsgi-uwsgi-ts', 'nuwsgi-http', 'node-cluster', 'uwsgi-python', 'c-ceiling', 'nginx'];

export const WORKLOADS: Workload[] = [
  { id: 'hello', label: 'hello world', app: 'bench', method: 'GET', path: '/hello', connections: 64, expect: (b) => b.toString() === 'Hello, World!\n', stacks: ALL },
  { id: 'json', label: '16 KiB JSON', app: 'bench', method: 'GET', path: '/json', connections: 64, expect: (b) => b.length === 16359 && JSON.parse(b.toString()).count === 176, stacks: ALL },
  { id: 'download', label: '1 MiB download', app: 'bench', method: 'GET', path: '/download', connections: 64, expect: (b) => b.length === 1024 * 1024, stacks: ALL },
  {
    id: 'upload', label: '100 KiB upload', app: 'bench', method: 'POST', path: '/upload', connections: 64, script: 'upload.lua',
    requestBytes: 100 * 1024, expect: (b) => b.toString() === '102400\n', stacks: ALL,
  },
  {
    // The peers' workers are synchronous: uWSGI + Python answers 2 / 50 ms at most, queueing the
    // rest, hence the long client timeout. The C responder and nginx have no such route.
    id: 'async', label: '200 concurrent 50 ms async', app: 'bench', method: 'GET', path: '/sleep', connections: 200, timeout: '20s',
    expect: (b) => b.toString() === 'Hello, World!\n', stacks: ['nuwsgi-uwsgi', 'nuwsgi-uwsgi-ts', 'nuwsgi-http', 'node-cluster', 'uwsgi-python'],
  },
  {
    id: 'express', label: 'Express: GET /users/:id, res.json', app: 'express', method: 'GET', path: '/users/42', connections: 64,
    expect: (b) => JSON.parse(b.toString()).id === 42, stacks: ['nuwsgi-uwsgi', 'nuwsgi-uwsgi-ts', 'nuwsgi-http', 'node-cluster'],
  },
];
