import { workerMain } from './worker.js';

workerMain();
