// life-app.mjs behind a slow module load (LIFE_LOAD_MS, default 1000 ms; the event loop stays
// free meanwhile), so lifecycle tests can act while a worker is still loading its app. While the
// file named by LIFE_HANG_IF_EXISTS exists, the load never finishes at all.
import { existsSync } from 'node:fs';

const gate = process.env.LIFE_HANG_IF_EXISTS;
if (gate && existsSync(gate)) await new Promise(() => setInterval(() => {}, 1000));
await new Promise((resolve) => setTimeout(resolve, Number(process.env.LIFE_LOAD_MS ?? 1000)));
export { default } from './life-app.mjs';
