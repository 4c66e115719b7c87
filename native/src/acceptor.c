/*
 * nuwsgi's native fast path: accept, first read, write and close of uwsgi connections in C, so
 * that JavaScript runs once per request (onConnection) and does not pay for a net.Socket.
 *
 * Everything runs on the Node main thread, driven by Node's own libuv loop: one uv_poll_t on the
 * listening fd, one uv_poll_t per connection only when a connection has to wait (no data yet, a
 * queued response, a watch), and two timers per acceptor. The common request -- data already
 * there at accept, a response that fits the socket buffer -- makes no libuv call at all.
 *
 * Connection ids are (generation << SLOT_BITS | slot): small integers that index a table, where
 * the generation makes a stale id from JS miss instead of hitting a reused slot.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define GEN_MAX 2047u /* ids stay below 2^31: V8 small integers */
#define MAX_SLOTS (1u << SLOT_BITS)
#define ACC_MAGIC 0x6e757773u
#define BACKOFF_MS 100 /* pause accepting after EMFILE & co: do not spin on a full fd table */
#define STACK_IOV 16

enum conn_state { C_PENDING, C_OPEN, C_ENDING, C_DEAD };
enum callback { CB_CONNECTION, CB_WRITABLE, CB_PEER_CLOSE, CB_CLOSED, CB_COUNT };
static const char *const CB_NAMES[CB_COUNT] = { "onConnection", "onWritable", "onPeerClose", "onClosed" };

struct acceptor;

typedef struct conn {
  uv_poll_t poll; /* initialised lazily (has_poll); the conn is freed in its close callback */
  struct acceptor *acc;
  int fd;
  uint32_t id;
  uint8_t state;
  uint8_t watched;
  uint8_t has_poll;
  int events; /* what the poll currently waits for */
  uint64_t accepted_at;
  struct conn *prev, *next; /* the pending list, in accept order */
  /* What the kernel did not take yet: the caller's own buffers, held by napi references (no copy:
   * a 1 MiB response would otherwise be copied once more than libuv's own streams do). */
  struct seg *segs;
  uint32_t seg_head, seg_count, seg_cap;
  size_t qbytes;
} conn_t;

typedef struct seg {
  napi_ref ref; /* keeps the JS buffer (and so base) alive until written */
  char *base;
  size_t len;
} seg_t;

typedef struct slot {
  conn_t *conn;
  uint32_t gen;
  uint32_t next_free;
} slot_t;

typedef struct acceptor {
  uint32_t magic;
  napi_env env;
  uv_loop_t *loop;
  int listen_fd;
  uv_poll_t listen_poll;
  uv_timer_t pending_timer; /* delivers connections that sent nothing within pendingMs */
  uv_timer_t backoff_timer;
  napi_ref callbacks; /* the callbacks object (receiver) */
  napi_ref cb[CB_COUNT];
  napi_async_context async;
  int have_js; /* callbacks still referenced (dropped once nothing can call them any more) */
  int closed; /* close() called: no more accepts */
  int env_gone;
  int refs; /* the JS external + every libuv handle not yet closed */
  uint64_t pending_ms;
  unsigned max_batch;
  int exclusive;       /* wake one worker per connection (EPOLLEXCLUSIVE), not every one */
  int exclusive_armed; /* libuv's entry for the listening fd is the exclusive one now */
  size_t read_size;
  char *scratch;
  /* A JS buffer that small first reads are copied into, one after another (setPool): a slice of
   * it costs JS one subarray, where a buffer of its own costs a malloc'ed backing store, two
   * objects and the GC's bookkeeping, for every request. */
  napi_ref pool_ref;
  char *pool_base;
  size_t pool_len, pool_used;
  slot_t *slots;
  uint32_t nslots, free_head; /* free_head: UINT32_MAX = empty */
  conn_t *pending_head, *pending_tail;
  double accepted, dropped, waited;
  uint32_t open;
} acceptor_t;

/* ------------------------------------------------------------------ acceptor lifetime */

static void acc_release_js(acceptor_t *a) {
  if (!a->have_js || a->env_gone) return;
  a->have_js = 0;
  if (a->pool_ref) napi_delete_reference(a->env, a->pool_ref);
  a->pool_ref = NULL;
  a->pool_base = NULL;
  for (int i = 0; i < CB_COUNT; i++) napi_delete_reference(a->env, a->cb[i]);
  napi_delete_reference(a->env, a->callbacks);
  napi_async_destroy(a->env, a->async);
}

static void acc_env_cleanup(void *arg);

static void acc_unref(acceptor_t *a) {
  if (--a->refs > 0) return;
  acc_release_js(a);
  if (!a->env_gone) napi_remove_env_cleanup_hook(a->env, acc_env_cleanup, a);
  free(a->scratch);
  free(a->slots);
  a->magic = 0;
  free(a);
}

static void on_acc_handle_closed(uv_handle_t *h) { acc_unref(h->data); }

/* Once closed with no connection left, no callback can ever run: let JS collect the callbacks
 * (they usually reference the acceptor, which would otherwise keep the cycle alive). */
static void acc_maybe_finish(acceptor_t *a) {
  if (!a->closed || a->open > 0) return;
  if (!uv_is_closing((uv_handle_t *)&a->pending_timer)) {
    uv_close((uv_handle_t *)&a->pending_timer, on_acc_handle_closed);
    uv_close((uv_handle_t *)&a->backoff_timer, on_acc_handle_closed);
  }
  acc_release_js(a);
}

/* ------------------------------------------------------------------ calling JS */

/* Calls one callback; a throw becomes an uncaught exception, as it would from a net.Socket event.
 * The caller holds a handle scope. */
static void emit(acceptor_t *a, enum callback which, size_t argc, napi_value *argv) {
  if (!a->have_js) return;
  napi_env env = a->env;
  napi_value recv, fn;
  if (napi_get_reference_value(env, a->callbacks, &recv) != napi_ok) return;
  if (napi_get_reference_value(env, a->cb[which], &fn) != napi_ok) return;
  napi_status s = napi_make_callback(env, a->async, recv, fn, argc, argv, NULL);
  if (s == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

/* onWritable(id), onClosed(id), onPeerClose(id, errno) (errno < 0: not passed). */
static void emit_id(acceptor_t *a, enum callback which, uint32_t id, int err) {
  if (!a->have_js) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok) return;
  napi_value argv[2];
  napi_create_uint32(a->env, id, &argv[0]);
  if (err >= 0) napi_create_int32(a->env, err, &argv[1]);
  emit(a, which, err >= 0 ? 2 : 1, argv);
  napi_close_handle_scope(a->env, scope);
}

/* Only a read that is one whole header block and nothing more goes to the pool: the app sees
 * strings decoded from it, never the bytes, so no slice of the pool outlives its request. A read
 * with body bytes (the app may keep that Buffer) gets a buffer of its own. */
static int poolable(const acceptor_t *a, const char *data, size_t len) {
  if (!a->pool_base || len < 4 || len > a->pool_len - a->pool_used) return 0;
  const unsigned char *h = (const unsigned char *)data;
  return len == 4 + ((size_t)h[1] | (size_t)h[2] << 8);
}

/* onConnection(id, data): the first read, either as a fresh Buffer copy or, for a header block
 * alone, as (id, length, offset) into the pool. */
static void emit_connection(acceptor_t *a, uint32_t id, const char *data, size_t len) {
  if (!a->have_js) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok) return;
  napi_value argv[3];
  size_t argc = 2;
  napi_create_uint32(a->env, id, &argv[0]);
  if (len > 0 && poolable(a, data, len)) {
    memcpy(a->pool_base + a->pool_used, data, len);
    napi_create_uint32(a->env, (uint32_t)len, &argv[1]);
    napi_create_uint32(a->env, (uint32_t)a->pool_used, &argv[2]);
    a->pool_used += (len + 7) & ~(size_t)7; /* 8-byte aligned slices */
    if (a->pool_used > a->pool_len) a->pool_used = a->pool_len;
    argc = 3;
  } else if (len > 0) {
    napi_create_buffer_copy(a->env, len, data, NULL, &argv[1]);
  } else {
    napi_create_buffer(a->env, 0, NULL, &argv[1]);
  }
  emit(a, CB_CONNECTION, argc, argv);
  napi_close_handle_scope(a->env, scope);
}

/* ------------------------------------------------------------------ connection table */

static conn_t *conn_lookup(acceptor_t *a, uint32_t id) {
  uint32_t slot = id & SLOT_MASK;
  if (slot >= a->nslots) return NULL;
  conn_t *c = a->slots[slot].conn;
  return c && c->id == id ? c : NULL;
}

static int table_grow(acceptor_t *a) {
  uint32_t n = a->nslots ? a->nslots * 2 : 256;
  if (n > MAX_SLOTS) n = MAX_SLOTS;
  if (n <= a->nslots) return -1;
  slot_t *s = realloc(a->slots, n * sizeof *s);
  if (!s) return -1;
  for (uint32_t i = a->nslots; i < n; i++) {
    s[i].conn = NULL;
    s[i].gen = 0;
    s[i].next_free = i + 1 < n ? i + 1 : a->free_head;
  }
  a->free_head = a->nslots;
  a->slots = s;
  a->nslots = n;
  return 0;
}

static conn_t *conn_new(acceptor_t *a, int fd) {
  if (a->free_head == UINT32_MAX && table_grow(a) < 0) return NULL;
  conn_t *c = malloc(sizeof *c);
  if (!c) return NULL;
  uint32_t slot = a->free_head;
  slot_t *s = &a->slots[slot];
  a->free_head = s->next_free;
  s->gen = s->gen >= GEN_MAX ? 1 : s->gen + 1;
  s->conn = c;
  memset(c, 0, sizeof *c);
  c->acc = a;
  c->fd = fd;
  c->id = (s->gen << SLOT_BITS) | slot;
  c->state = C_OPEN;
  a->open++;
  return c;
}

static void pending_remove(conn_t *c) {
  acceptor_t *a = c->acc;
  if (c->prev) c->prev->next = c->next; else a->pending_head = c->next;
  if (c->next) c->next->prev = c->prev; else a->pending_tail = c->prev;
  c->prev = c->next = NULL;
  if (!a->pending_head) uv_timer_stop(&a->pending_timer);
}

static void queue_clear(conn_t *c);

static void on_conn_poll_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  acceptor_t *a = c->acc;
  free(c);
  acc_unref(a);
}

/* Forgets a connection: out of the table, poll stopped and closed, queue dropped; the fd is
 * closed too unless released. The poll is closed before the fd (libuv needs the fd valid while
 * the handle is active). */
static void conn_dispose(conn_t *c, int close_fd) {
  acceptor_t *a = c->acc;
  if (c->state == C_PENDING) pending_remove(c);
  slot_t *s = &a->slots[c->id & SLOT_MASK];
  s->conn = NULL;
  s->next_free = a->free_head;
  a->free_head = c->id & SLOT_MASK;
  a->open--;
  queue_clear(c);
  c->state = C_DEAD;
  if (c->has_poll) uv_close((uv_handle_t *)&c->poll, on_conn_poll_closed);
  if (close_fd) close(c->fd);
  c->fd = -1;
  if (!c->has_poll) free(c);
  acc_maybe_finish(a);
}

/* ------------------------------------------------------------------ per-connection polling */

static void on_conn_poll(uv_poll_t *h, int status, int events);

static size_t queued(const conn_t *c) { return c->qbytes; }

/* One poll per connection: readable while pending or watched, writable while bytes are queued. */
static int conn_update_poll(conn_t *c) {
  int ev = 0;
  if (c->state == C_PENDING) ev = UV_READABLE;
  if (c->state == C_OPEN && c->watched) ev |= UV_READABLE | UV_DISCONNECT;
  if ((c->state == C_OPEN || c->state == C_ENDING) && queued(c) > 0) ev |= UV_WRITABLE;
  if (ev == c->events) return 0;
  if (ev && !c->has_poll) {
    int r = uv_poll_init(c->acc->loop, &c->poll, c->fd);
    if (r < 0) return r;
    c->poll.data = c;
    c->has_poll = 1;
    c->acc->refs++;
  }
  int r = ev ? uv_poll_start(&c->poll, ev, on_conn_poll) : uv_poll_stop(&c->poll);
  if (r < 0) return r;
  c->events = ev;
  return 0;
}

/* ------------------------------------------------------------------ writing */

/* Hold the rest of a JS buffer for a later write. */
static int queue_append(conn_t *c, napi_value value, char *base, size_t len) {
  if (c->seg_count == c->seg_cap) {
    uint32_t cap = c->seg_cap ? c->seg_cap * 2 : 8;
    seg_t *segs = realloc(c->segs, cap * sizeof *segs);
    if (!segs) return -ENOMEM;
    c->segs = segs;
    c->seg_cap = cap;
  }
  seg_t *g = &c->segs[c->seg_count];
  if (napi_create_reference(c->acc->env, value, 1, &g->ref) != napi_ok) return -ENOMEM;
  g->base = base;
  g->len = len;
  c->seg_count++;
  c->qbytes += len;
  return 0;
}

/* Let go of every held buffer (written, or dropped with the connection). */
static void queue_clear(conn_t *c) {
  acceptor_t *a = c->acc;
  for (uint32_t i = c->seg_head; i < c->seg_count; i++) {
    if (!a->env_gone) napi_delete_reference(a->env, c->segs[i].ref);
  }
  free(c->segs);
  c->segs = NULL;
  c->seg_head = c->seg_count = c->seg_cap = 0;
  c->qbytes = 0;
}

/* writev until done or EAGAIN; what the kernel did not take goes to the queue.
 * Returns the bytes queued (0 = all written now) or -errno. */
static ssize_t conn_writev(conn_t *c, struct iovec *iov, napi_value *values, int n) {
  int i = 0;
  if (queued(c) == 0) {
    while (i < n) {
      ssize_t w = writev(c->fd, iov + i, n - i > IOV_MAX ? IOV_MAX : n - i);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return -errno;
      }
      while (i < n && (size_t)w >= iov[i].iov_len) w -= (ssize_t)iov[i++].iov_len;
      if (i < n) {
        iov[i].iov_base = (char *)iov[i].iov_base + w;
        iov[i].iov_len -= (size_t)w;
      }
    }
    if (i == n) return 0;
  }
  for (; i < n; i++) {
    if (iov[i].iov_len == 0) continue;
    int r = queue_append(c, values[i], iov[i].iov_base, iov[i].iov_len);
    if (r < 0) return r;
  }
  int r = conn_update_poll(c);
  if (r < 0) return r;
  return (ssize_t)queued(c);
}

/* Writes queued bytes. Returns 0 when drained, 1 when some remain, -errno on failure. */
static int conn_flush(conn_t *c) {
  acceptor_t *a = c->acc;
  struct iovec iov[STACK_IOV];
  while (c->seg_head < c->seg_count) {
    int n = 0;
    for (uint32_t i = c->seg_head; i < c->seg_count && n < STACK_IOV; i++, n++) {
      iov[n].iov_base = c->segs[i].base;
      iov[n].iov_len = c->segs[i].len;
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
      return -errno;
    }
    c->qbytes -= (size_t)w;
    while (w > 0) {
      seg_t *g = &c->segs[c->seg_head];
      if ((size_t)w < g->len) {
        g->base += w;
        g->len -= (size_t)w;
        break;
      }
      w -= (ssize_t)g->len;
      if (!a->env_gone) napi_delete_reference(a->env, g->ref);
      c->seg_head++;
    }
  }
  queue_clear(c); /* a drained queue gives its memory back: most connections never queue again */
  return 0;
}

/* The connection failed: closed by C; JS hears onClosed after end(), else onPeerClose. */
static void conn_fail(conn_t *c, int err) {
  acceptor_t *a = c->acc;
  uint32_t id = c->id;
  int ending = c->state == C_ENDING;
  conn_dispose(c, 1);
  if (ending) emit_id(a, CB_CLOSED, id, -1);
  else emit_id(a, CB_PEER_CLOSE, id, err);
}

/* ------------------------------------------------------------------ reading */

/* A pending connection became readable: deliver its first bytes, or drop it if it closed. */
static void conn_first_read(conn_t *c, int status) {
  acceptor_t *a = c->acc;
  ssize_t n = status < 0 ? -1 : read(c->fd, a->scratch, a->read_size);
  if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    a->dropped++;
    conn_dispose(c, 1);
    return;
  }
  pending_remove(c);
  c->state = C_OPEN;
  conn_update_poll(c); /* stops the poll: nothing to wait for until JS asks */
  emit_connection(a, c->id, a->scratch, (size_t)n);
}

/* A watched connection is readable: EOF or an error means the peer is gone; data is dropped. */
static void conn_watch_read(conn_t *c) {
  acceptor_t *a = c->acc;
  ssize_t n = read(c->fd, a->scratch, a->read_size);
  if (n > 0) return;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  uint32_t id = c->id;
  int err = n == 0 ? 0 : errno;
  conn_dispose(c, 1);
  emit_id(a, CB_PEER_CLOSE, id, err);
}

static void on_conn_poll(uv_poll_t *h, int status, int events) {
  conn_t *c = h->data;
  acceptor_t *a = c->acc;
  if (c->state == C_DEAD) return;
  if (c->state == C_PENDING) {
    conn_first_read(c, status);
    return;
  }
  if (status < 0) { /* libuv reports any POLLERR as EBADF: the socket knows the real error */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) err = -status;
    conn_fail(c, err);
    return;
  }
  if ((events & UV_WRITABLE) && queued(c) > 0) {
    int r = conn_flush(c);
    if (r < 0) {
      conn_fail(c, -r);
      return;
    }
    if (r == 0) {
      uint32_t id = c->id;
      if (c->state == C_ENDING) {
        conn_dispose(c, 1);
        emit_id(a, CB_CLOSED, id, -1);
        return;
      }
      conn_update_poll(c);
      emit_id(a, CB_WRITABLE, id, -1);
      /* JS may have ended, destroyed or released it: the memory lives until the poll closes. */
    }
  }
  if (c->state == C_OPEN && c->watched && (events & (UV_READABLE | UV_DISCONNECT))) conn_watch_read(c);
}

/* ------------------------------------------------------------------ accepting */

static void on_listen_poll(uv_poll_t *h, int status, int events);

static void on_backoff(uv_timer_t *t) {
  acceptor_t *a = t->data;
  a->exclusive_armed = 0; /* the restart registers a plain entry again: re-armed on the next event */
  if (!a->closed) uv_poll_start(&a->listen_poll, UV_READABLE, on_listen_poll);
}

/* Every worker polls the same listening socket, so by default a connection wakes them all and all
 * but one find nothing to accept (half an accept4 and a wakeup wasted per request). The kernel can
 * wake just one epoll waiter (EPOLLEXCLUSIVE, Linux 4.5, what nginx uses), but that flag can only
 * be given when the fd is added, and libuv adds it without. So once libuv has added the fd (we are
 * in its callback), swap its entry in libuv's own epoll set for an exclusive one with the same
 * events and data: libuv still believes its entry is there and never touches it again unless the
 * poll is stopped (uv_poll_stop deletes it; on_backoff re-arms). A busy worker is not a problem:
 * the kernel passes the wakeup on to a worker that is waiting in epoll_wait. */
static void arm_exclusive(acceptor_t *a) {
  int efd = uv_backend_fd(a->loop);
  struct epoll_event e = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = a->listen_fd };
  a->exclusive_armed = 1;
  if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_DEL, a->listen_fd, &e) < 0) {
    a->exclusive = 0; /* not libuv's epoll: leave it alone */
    return;
  }
  if (epoll_ctl(efd, EPOLL_CTL_ADD, a->listen_fd, &e) == 0) return;
  a->exclusive = 0; /* a kernel without EPOLLEXCLUSIVE: put libuv's plain entry back */
  e.events = EPOLLIN;
  if (epoll_ctl(efd, EPOLL_CTL_ADD, a->listen_fd, &e) < 0) {
    uv_poll_stop(&a->listen_poll); /* let libuv add it again itself */
    uv_poll_start(&a->listen_poll, UV_READABLE, on_listen_poll);
  }
}

static void on_pending_timer(uv_timer_t *t) {
  acceptor_t *a = t->data;
  uint64_t now = uv_now(a->loop);
  conn_t *c;
  while ((c = a->pending_head) && now - c->accepted_at >= a->pending_ms) {
    pending_remove(c);
    c->state = C_OPEN;
    conn_update_poll(c);
    emit_connection(a, c->id, NULL, 0); /* JS hands it to a net.Socket, made for slow clients */
  }
  if (a->pending_head && !uv_is_closing((uv_handle_t *)t))
    uv_timer_start(t, on_pending_timer, a->pending_head->accepted_at + a->pending_ms - now, 0);
}

/* A new fd: read what is there (nginx sends the request right after connecting) and deliver it;
 * otherwise wait for it with a poll, for at most pendingMs. (Reading again at the end of the loop
 * turn instead was tried: a quarter of nginx's connections still had no data by then, and the
 * extra reads cost what the polls saved.) */
static void conn_accepted(acceptor_t *a, int fd) {
  conn_t *c = conn_new(a, fd);
  if (!c) {
    a->dropped++;
    close(fd);
    return;
  }
  ssize_t n = read(fd, a->scratch, a->read_size);
  if (n > 0) {
    emit_connection(a, c->id, a->scratch, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    c->state = C_PENDING;
    c->accepted_at = uv_now(a->loop);
    c->prev = a->pending_tail;
    if (a->pending_tail) a->pending_tail->next = c; else a->pending_head = c;
    a->pending_tail = c;
    a->waited++;
    if (conn_update_poll(c) < 0) {
      a->dropped++;
      conn_dispose(c, 1);
      return;
    }
    if (!uv_is_active((uv_handle_t *)&a->pending_timer))
      uv_timer_start(&a->pending_timer, on_pending_timer, a->pending_ms, 0);
    return;
  }
  a->dropped++; /* closed or failed before sending anything */
  conn_dispose(c, 1);
}

static void on_listen_poll(uv_poll_t *h, int status, int events) {
  acceptor_t *a = h->data;
  if (a->exclusive && !a->exclusive_armed) arm_exclusive(a);
  for (unsigned i = 0; i < a->max_batch && !a->closed; i++) {
    int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      a->accepted++;
      conn_accepted(a, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* another process won it: normal */
    /* EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: pause instead of spinning on a readable fd. */
    uv_poll_stop(&a->listen_poll);
    uv_timer_start(&a->backoff_timer, on_backoff, BACKOFF_MS, 0);
    return;
  }
}

/* ------------------------------------------------------------------ JS arguments */

static napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static napi_value make_bool(napi_env env, int v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* (acc, id, ...) -> the acceptor and the live connection (NULL if the id is unknown).
 * Returns 0, or -1 with a TypeError thrown when acc is not an acceptor. */
static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, acceptor_t **a, conn_t **c) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p || ((acceptor_t *)p)->magic != ACC_MAGIC) {
    throw_type(env, "the first argument must be an acceptor from createAcceptor()");
    return -1;
  }
  *a = p;
  if (c) {
    uint32_t id = 0;
    *c = argc >= 2 && napi_get_value_uint32(env, argv[1], &id) == napi_ok ? conn_lookup(*a, id) : NULL;
  }
  return 0;
}

/* options.key when it is there with the type wanted (anything else means the default). */
static int opt_get(napi_env env, napi_value obj, const char *key, napi_valuetype want, napi_value *v) {
  napi_valuetype t;
  return napi_get_named_property(env, obj, key, v) == napi_ok && napi_typeof(env, *v, &t) == napi_ok && t == want;
}

static uint32_t opt_u32(napi_env env, napi_value obj, const char *key, uint32_t def) {
  napi_value v;
  uint32_t r;
  return opt_get(env, obj, key, napi_number, &v) && napi_get_value_uint32(env, v, &r) == napi_ok ? r : def;
}

static int opt_bool(napi_env env, napi_value obj, const char *key, int def) {
  napi_value v;
  bool r;
  return opt_get(env, obj, key, napi_boolean, &v) && napi_get_value_bool(env, v, &r) == napi_ok ? r : def;
}

/* ------------------------------------------------------------------ the binding */

static void acc_finalize(napi_env env, void *data, void *hint) { acc_unref(data); }

static void acc_stop_accepting(acceptor_t *a) {
  if (a->closed) return;
  a->closed = 1;
  uv_close((uv_handle_t *)&a->listen_poll, on_acc_handle_closed); /* the listen fd stays open */
  uv_timer_stop(&a->backoff_timer);
  acc_maybe_finish(a);
}

/* The environment is going away (exit, worker end): close everything, call nothing. */
static void acc_env_cleanup(void *arg) {
  acceptor_t *a = arg;
  for (uint32_t i = 0; i < a->nslots; i++)
    if (a->slots[i].conn) conn_dispose(a->slots[i].conn, 1);
  acc_release_js(a);
  a->env_gone = 1;
  acc_stop_accepting(a);
}

/* createAcceptor(listenFd, callbacks, { pendingMs, maxBatch, readSize, backlog, exclusive }) -> acceptor */
static napi_value js_create_acceptor(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return throw_type(env, "createAcceptor: listenFd must be a file descriptor");
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_object)
    return throw_type(env, "createAcceptor: callbacks must be an object");
  napi_value fns[CB_COUNT];
  for (int i = 0; i < CB_COUNT; i++) {
    if (napi_get_named_property(env, argv[1], CB_NAMES[i], &fns[i]) != napi_ok) return NULL;
    if (napi_typeof(env, fns[i], &t) != napi_ok || t != napi_function) {
      char msg[96];
      snprintf(msg, sizeof msg, "createAcceptor: callbacks.%s must be a function", CB_NAMES[i]);
      return throw_type(env, msg);
    }
  }
  int has_opts = argc >= 3 && napi_typeof(env, argv[2], &t) == napi_ok && t == napi_object;

  acceptor_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->magic = ACC_MAGIC;
  a->env = env;
  a->listen_fd = fd;
  a->free_head = UINT32_MAX;
  a->pending_ms = has_opts ? opt_u32(env, argv[2], "pendingMs", 1000) : 1000;
  a->max_batch = has_opts ? opt_u32(env, argv[2], "maxBatch", 64) : 64;
  a->read_size = has_opts ? opt_u32(env, argv[2], "readSize", 65540) : 65540;
  a->exclusive = has_opts ? opt_bool(env, argv[2], "exclusive", 1) : 1;
  /* A bound socket nobody listens on yet (the master binds, workers listen): listen(2) here, as
   * net.Server's listen({fd}) would make libuv poll the fd itself and ours could not. */
  uint32_t backlog = has_opts ? opt_u32(env, argv[2], "backlog", UINT32_MAX) : UINT32_MAX;
  if (backlog != UINT32_MAX && listen(fd, backlog > INT_MAX ? INT_MAX : (int)backlog) < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "createAcceptor: listen(%d): %s", fd, strerror(errno));
    free(a);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (a->pending_ms < 1) a->pending_ms = 1;
  if (a->max_batch < 1) a->max_batch = 1;
  if (a->read_size < 4) a->read_size = 4;
  a->scratch = malloc(a->read_size);
  if (!a->scratch || napi_get_uv_event_loop(env, &a->loop) != napi_ok) {
    free(a->scratch);
    free(a);
    napi_throw_error(env, NULL, "createAcceptor: out of memory or no event loop");
    return NULL;
  }
  int r = uv_poll_init(a->loop, &a->listen_poll, fd);
  if (r < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "createAcceptor: cannot poll fd %d: %s", fd, uv_strerror(r));
    free(a->scratch);
    free(a);
    napi_throw_error(env, uv_err_name(r), msg);
    return NULL;
  }
  a->listen_poll.data = a;
  uv_timer_init(a->loop, &a->pending_timer);
  uv_timer_init(a->loop, &a->backoff_timer);
  a->pending_timer.data = a->backoff_timer.data = a;
  a->refs = 4; /* the JS external and the three handles */

  napi_value name, ext;
  napi_create_reference(env, argv[1], 1, &a->callbacks);
  for (int i = 0; i < CB_COUNT; i++) napi_create_reference(env, fns[i], 1, &a->cb[i]);
  napi_create_string_utf8(env, "nuwsgi:native", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[1], name, &a->async);
  a->have_js = 1;
  napi_add_env_cleanup_hook(env, acc_env_cleanup, a);
  napi_create_external(env, a, acc_finalize, NULL, &ext);
  uv_poll_start(&a->listen_poll, UV_READABLE, on_listen_poll);
  return ext;
}

/* write(acc, id, buffer | buffer[]) -> bytes still queued (0: all written now), or -errno */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  acceptor_t *a;
  conn_t *c;
  if (get_args(env, info, 3, argv, &a, &c) < 0) return NULL;
  if (!c) return make_int(env, -EBADF);
  if (c->state != C_OPEN) return make_int(env, -EPIPE); /* written after end() */
  bool is_array = false;
  napi_is_array(env, argv[2], &is_array);
  struct iovec stack_iov[STACK_IOV], *iov = stack_iov;
  napi_value stack_values[STACK_IOV], *values = stack_values;
  uint32_t n = 1;
  if (is_array) {
    napi_get_array_length(env, argv[2], &n);
    if (n > STACK_IOV) {
      iov = malloc(n * sizeof *iov);
      values = malloc(n * sizeof *values);
      if (!iov || !values) {
        free(iov);
        free(values);
        return make_int(env, -ENOMEM);
      }
    }
  }
  bool bad = false;
  for (uint32_t i = 0; i < n && !bad; i++) {
    values[i] = argv[2];
    if (is_array) napi_get_element(env, argv[2], i, &values[i]);
    bad = napi_get_buffer_info(env, values[i], &iov[i].iov_base, &iov[i].iov_len) != napi_ok;
  }
  ssize_t r = bad ? 0 : conn_writev(c, iov, values, (int)n);
  if (iov != stack_iov) {
    free(iov);
    free(values);
  }
  if (bad) return throw_type(env, "write: data must be a Buffer, a Uint8Array or an array of them");
  return make_int(env, r);
}

/* end(acc, id) -> true: closed now; false: closes once the queue drains, then onClosed(id).
 * An unknown id: false, no callback. */
static napi_value js_end(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  acceptor_t *a;
  conn_t *c;
  if (get_args(env, info, 2, argv, &a, &c) < 0) return NULL;
  if (!c || c->state != C_OPEN) return make_bool(env, 0);
  if (queued(c) == 0) {
    conn_dispose(c, 1);
    return make_bool(env, 1);
  }
  c->state = C_ENDING; /* from now on only onClosed: the watch is dropped */
  conn_update_poll(c);
  return make_bool(env, 0);
}

/* destroy(acc, id): close now, drop the queue, no callback. */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  acceptor_t *a;
  conn_t *c;
  if (get_args(env, info, 2, argv, &a, &c) < 0) return NULL;
  if (c) conn_dispose(c, 1);
  return make_bool(env, c != NULL);
}

/* watch(acc, id) -> true when watching: onPeerClose(id, errno) when the peer closes or errs. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  acceptor_t *a;
  conn_t *c;
  if (get_args(env, info, 2, argv, &a, &c) < 0) return NULL;
  if (!c || c->state != C_OPEN) return make_bool(env, 0);
  c->watched = 1;
  int r = conn_update_poll(c);
  if (r < 0) c->watched = 0;
  return make_bool(env, r == 0);
}

/* release(acc, id) -> the fd, now JS's to close; -EBADF unknown id; -EBUSY while bytes are queued
 * (wait for onWritable) or after end(). */
static napi_value js_release(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  acceptor_t *a;
  conn_t *c;
  if (get_args(env, info, 2, argv, &a, &c) < 0) return NULL;
  if (!c) return make_int(env, -EBADF);
  if (c->state != C_OPEN || queued(c) > 0) return make_int(env, -EBUSY);
  int fd = c->fd;
  conn_dispose(c, 0);
  return make_int(env, fd);
}

/* close(acc): stop accepting; connections carry on. The listen fd is not closed. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  acceptor_t *a;
  if (get_args(env, info, 1, argv, &a, NULL) < 0) return NULL;
  acc_stop_accepting(a);
  return NULL;
}

/* setPool(acc, buffer): copy small first reads into `buffer` from its start on (it replaces the
 * last one, which JS may drop once no request uses it). */
static napi_value js_set_pool(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  acceptor_t *a;
  if (get_args(env, info, 2, argv, &a, NULL) < 0) return NULL;
  void *base;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &base, &len) != napi_ok) return throw_type(env, "setPool: the pool must be a Buffer");
  if (!a->have_js) return NULL;
  if (a->pool_ref) napi_delete_reference(env, a->pool_ref);
  a->pool_ref = NULL;
  a->pool_base = NULL;
  if (napi_create_reference(env, argv[1], 1, &a->pool_ref) != napi_ok) return NULL;
  a->pool_base = base;
  a->pool_len = len;
  a->pool_used = 0;
  return NULL;
}

/* stats(acc) -> { accepted, open, dropped, waited } */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], o, v;
  acceptor_t *a;
  if (get_args(env, info, 1, argv, &a, NULL) < 0) return NULL;
  napi_create_object(env, &o);
  napi_create_double(env, a->accepted, &v);
  napi_set_named_property(env, o, "accepted", v);
  napi_create_uint32(env, a->open, &v);
  napi_set_named_property(env, o, "open", v);
  napi_create_double(env, a->dropped, &v);
  napi_set_named_property(env, o, "dropped", v);
  napi_create_double(env, a->waited, &v);
  napi_set_named_property(env, o, "waited", v);
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "createAcceptor", NULL, js_create_acceptor, NULL, NULL, NULL, napi_enumerable, NULL },
    { "write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL },
    { "end", NULL, js_end, NULL, NULL, NULL, napi_enumerable, NULL },
    { "destroy", NULL, js_destroy, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watch", NULL, js_watch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "release", NULL, js_release, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setPool", NULL, js_set_pool, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
