/**
 * A request the server refuses. `status` is set when the front end should get an HTTP answer
 * (the header block was readable); without it the connection is just closed. `option` names the
 * setting an operator can change, so the log line tells them what to do.
 */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly option?: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }

  /** One log line: the cause, and the option to change when there is one. */
  describe(): string {
    return this.option ? `${this.message} (see --${this.option})` : this.message;
  }
}
