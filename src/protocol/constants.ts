/** Wire constants of the uwsgi protocol (see shared/reference/protocol.md §1-2). */

export const HEADER_SIZE = 4;
/** datasize is a 16-bit field: no var block can be larger. */
export const MAX_BLOCK_SIZE = 0xffff;

/** modifier1 values nuwsgi answers. */
export const MODIFIER_HTTP = 0;
/** "WSGI with SCRIPT_NAME stripped from PATH_INFO": served like 0. */
export const MODIFIER_HTTP_STRIP_SCRIPT_NAME = 30;
export const MODIFIER_PING = 100;

/** The pong: modifier1 100, datasize 0, modifier2 1 (uWSGI's ping plugin). */
export const PONG = Buffer.from([0x64, 0x00, 0x00, 0x01]);
