/** A configuration nuwsgi cannot run with; the message says where (file:line) and what to change. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
