import { HEADER_SIZE, MODIFIER_HTTP, MODIFIER_HTTP_STRIP_SCRIPT_NAME, MODIFIER_PING } from './constants.js';
import { parseContentLength } from './content-length.js';
import { ProtocolError } from './errors.js';
import { decodeVars, type UwsgiVars } from './vars.js';

export interface PacketHeader {
  modifier1: number;
  datasize: number;
  modifier2: number;
}

export interface ReaderLimits {
  /** Largest var block accepted (--buffer-size). */
  bufferSize: number;
  /** Most vars accepted in one block (--max-vars). */
  maxVars: number;
  /**
   * Largest CONTENT_LENGTH accepted (--limit-post), 0 or absent for no limit. Checked on the
   * declared length, before a single body byte is read: a larger request is refused with 413.
   */
  limitPost?: number;
}

export interface ReaderEvents {
  /** A modifier1 100 packet: answer with the pong. */
  onPing(header: PacketHeader): void;
  /** The header and var block of a request; `bodyLength` body bytes follow. */
  onRequest(header: PacketHeader, vars: UwsgiVars, bodyLength: number): void;
  /** Body bytes, never more than `bodyLength` in all. */
  onBody(chunk: Buffer): void;
  /** All `bodyLength` bytes have been delivered (called at once for an empty body). */
  onBodyEnd(): void;
  /** The packet is invalid; nothing more will be delivered. */
  onError(error: ProtocolError): void;
}

const enum State {
  Header,
  Block,
  Body,
  Done,
}

/**
 * Streaming reader for one uwsgi packet: takes bytes in any split (one at a time included) and
 * delivers the header, the decoded var block, then exactly CONTENT_LENGTH body bytes. One request
 * per connection, as every front end uses the protocol: bytes after the body are ignored.
 * Back-pressure is the caller's: it pauses its socket when the consumer of onBody is full.
 */
export class PacketReader {
  private state = State.Header;
  private header: PacketHeader | undefined;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private bodyRemaining = 0;

  constructor(
    private readonly limits: ReaderLimits,
    private readonly events: ReaderEvents,
  ) {}

  /** True once the header block has been read (the socket timeout then stops applying to it). */
  get headerComplete(): boolean {
    return this.state === State.Body || this.state === State.Done;
  }

  /** True once every body byte was delivered, or the packet failed. */
  get finished(): boolean {
    return this.state === State.Done;
  }

  /** Body bytes still expected. */
  get remainingBody(): number {
    return this.bodyRemaining;
  }

  /** Stop delivering: the consumer refused the request (nothing more will be read as this packet). */
  abort(): void {
    this.state = State.Done;
    this.pending = [];
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && this.state !== State.Done) {
      if (this.state === State.Body) {
        const n = Math.min(this.bodyRemaining, chunk.length - offset);
        this.bodyRemaining -= n;
        this.events.onBody(offset === 0 && n === chunk.length ? chunk : chunk.subarray(offset, offset + n));
        offset += n;
        if (this.bodyRemaining === 0) this.endBody();
        continue;
      }
      const need = this.state === State.Header ? HEADER_SIZE : this.header!.datasize;
      const piece = this.take(chunk, offset, need);
      offset += piece.consumed;
      if (piece.bytes) this.state === State.Header ? this.onHeader(piece.bytes) : this.onBlock(piece.bytes);
    }
  }

  /**
   * Collect `need` bytes across chunks; the common case (all in one chunk, nothing pending)
   * slices without copying.
   */
  private take(chunk: Buffer, offset: number, need: number): { bytes?: Buffer; consumed: number } {
    const available = chunk.length - offset;
    if (this.pendingLength === 0 && available >= need) {
      return { bytes: chunk.subarray(offset, offset + need), consumed: need };
    }
    const n = Math.min(need - this.pendingLength, available);
    this.pending.push(chunk.subarray(offset, offset + n));
    this.pendingLength += n;
    if (this.pendingLength < need) return { consumed: n };
    const bytes = Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    return { bytes, consumed: n };
  }

  private onHeader(bytes: Buffer): void {
    const header: PacketHeader = { modifier1: bytes[0], datasize: bytes.readUInt16LE(1), modifier2: bytes[3] };
    this.header = header;
    if (header.modifier1 === MODIFIER_PING && header.datasize === 0) return this.ping();
    const error = headerError(header, bytes, this.limits);
    if (error) return this.fail(error);
    this.state = State.Block;
  }

  private onBlock(bytes: Buffer): void {
    if (this.header!.modifier1 === MODIFIER_PING) return this.ping();
    const block = readRequestBlock(bytes, this.limits);
    if (block instanceof ProtocolError) return this.fail(block);
    const { vars, bodyLength } = block;
    this.bodyRemaining = bodyLength;
    this.state = State.Body;
    this.events.onRequest(this.header!, vars, bodyLength);
    if (bodyLength === 0 && this.state === State.Body) this.endBody();
  }

  private ping(): void {
    this.state = State.Done;
    this.events.onPing(this.header!);
  }

  private endBody(): void {
    this.state = State.Done;
    this.events.onBodyEnd();
  }

  private fail(error: ProtocolError): void {
    this.abort();
    this.events.onError(error);
  }
}

/** A packet's 4-byte header judged (a ping without a block is the caller's): why to refuse it, or undefined. */
function headerError(header: PacketHeader, bytes: Buffer, limits: ReaderLimits): ProtocolError | undefined {
  if (header.modifier1 !== MODIFIER_PING && header.modifier1 !== MODIFIER_HTTP && header.modifier1 !== MODIFIER_HTTP_STRIP_SCRIPT_NAME) {
    return new ProtocolError(
      `unsupported uwsgi modifier1 ${header.modifier1} (first bytes ${bytes.subarray(0, HEADER_SIZE).toString('hex')}; ` +
        `is this an HTTP client on the uwsgi socket? use --http-socket for HTTP, or nginx uwsgi_modifier1 0)`,
    );
  }
  if (header.modifier1 !== MODIFIER_PING && header.datasize === 0) return new ProtocolError('empty uwsgi request: the var block has size 0');
  if (header.datasize > limits.bufferSize) {
    return new ProtocolError(
      `uwsgi var block of ${header.datasize} bytes exceeds buffer-size ${limits.bufferSize}`,
      // A ping client speaks uwsgi, not HTTP: it gets no HTTP error response.
      header.modifier1 === MODIFIER_PING ? undefined : 431,
      'buffer-size',
    );
  }
  return undefined;
}

/** A request's var block decoded and judged: its vars and body length, or why to refuse it. */
function readRequestBlock(bytes: Buffer, limits: ReaderLimits): { vars: UwsgiVars; bodyLength: number } | ProtocolError {
  let vars: UwsgiVars;
  let bodyLength: number;
  try {
    vars = decodeVars(bytes, limits.maxVars);
    bodyLength = parseContentLength(vars.get('CONTENT_LENGTH'));
  } catch (error) {
    return error as ProtocolError;
  }
  const limitPost = limits.limitPost ?? 0;
  if (limitPost > 0 && bodyLength > limitPost) {
    // uWSGI: "Invalid (too big) CONTENT_LENGTH. skip." -- here with an answer the client can read.
    return new ProtocolError(`CONTENT_LENGTH ${bodyLength} exceeds limit-post ${limitPost}`, 413, 'limit-post');
  }
  return { vars, bodyLength };
}

/** One whole request packet in one buffer: PacketReader's rules, none of its streaming. */
export interface WholePacket {
  header: PacketHeader;
  vars: UwsgiVars;
  /** The body: `data` after the var block, exactly CONTENT_LENGTH bytes (empty when none). */
  body: Buffer;
}

/**
 * `data` as one complete, valid request packet with nothing after it, judged by the same rules
 * as PacketReader; undefined for anything else (a ping, a refusal, a packet still arriving, bytes
 * after it), which the streaming reader is then to read and answer.
 */
export function parseWholePacket(data: Buffer, limits: ReaderLimits): WholePacket | undefined {
  if (data.length < HEADER_SIZE) return undefined;
  const header: PacketHeader = { modifier1: data[0], datasize: data[1] | (data[2] << 8), modifier2: data[3] };
  const end = HEADER_SIZE + header.datasize;
  if (header.modifier1 === MODIFIER_PING || end > data.length || headerError(header, data, limits)) return undefined;
  const block = readRequestBlock(data.subarray(HEADER_SIZE, end), limits);
  if (block instanceof ProtocolError || end + block.bodyLength !== data.length) return undefined;
  return { header, vars: block.vars, body: data.subarray(end) };
}
