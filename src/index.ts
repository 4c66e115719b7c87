/** Public API for apps that want to reach below the (req, res) interface. */
export { getUwsgiVars } from './bridge/request.js';
export type { FetchEnv, FetchHandler } from './app/fetch-adapter.js';
