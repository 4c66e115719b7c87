/*
 * The ceiling of the uwsgi path: the cheapest correct uwsgi backend. Blocking accept, read the
 * 4-byte header and the var block, read (and drop) CONTENT_LENGTH body bytes, write a fixed
 * response chosen by PATH_INFO, close. N forked processes share one listening unix socket, like
 * uWSGI's preforking workers. No request objects, no allocation per request.
 *
 * Built by the bench (cc -O2); usage: ceiling SOCKET_PATH PROCESSES HELLO_FILE JSON_FILE DOWNLOAD_FILE
 * The three files are response bodies, read once at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct response { char *bytes; size_t len; };

static struct response make_response(const char *type, const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) { perror(file); exit(1); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char head[256];
  int h = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %ld\r\n\r\n", type, n);
  struct response r = { malloc((size_t)h + (size_t)n), (size_t)h + (size_t)n };
  memcpy(r.bytes, head, (size_t)h);
  if (fread(r.bytes + h, 1, (size_t)n, f) != (size_t)n) { perror(file); exit(1); }
  fclose(f);
  return r;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

/* Finds a var in the uwsgi var block: [u16 klen][key][u16 vlen][value]... */
static const char *var(const unsigned char *block, size_t len, const char *key, size_t *vlen) {
  size_t klen = strlen(key), i = 0;
  while (i + 2 <= len) {
    size_t kl = block[i] | (block[i + 1] << 8); i += 2;
    if (i + kl + 2 > len) return NULL;
    const unsigned char *k = block + i; i += kl;
    size_t vl = block[i] | (block[i + 1] << 8); i += 2;
    if (i + vl > len) return NULL;
    if (kl == klen && memcmp(k, key, kl) == 0) { *vlen = vl; return (const char *)block + i; }
    i += vl;
  }
  return NULL;
}

static void serve(int listener, struct response *hello, struct response *json, struct response *download, struct response *upload) {
  static unsigned char buf[65536 + 4];
  static char drain[65536];
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; perror("accept"); exit(1); }
    size_t got = 0, need = 4;
    while (got < need) {
      ssize_t r = read(fd, buf + got, sizeof buf - got);
      if (r <= 0) break;
      got += (size_t)r;
      if (need == 4 && got >= 4) need = 4 + (buf[1] | (buf[2] << 8));
    }
    if (got < need) { close(fd); continue; }
    size_t vl = 0;
    const char *path = var(buf + 4, need - 4, "PATH_INFO", &vl);
    const char *cl = var(buf + 4, need - 4, "CONTENT_LENGTH", &vl);
    long body = 0;
    if (cl) { char n[24] = {0}; memcpy(n, cl, vl < 23 ? vl : 23); body = atol(n); }
    body -= (long)(got - need); /* body bytes that came with the header block */
    while (body > 0) {
      ssize_t r = read(fd, drain, sizeof drain);
      if (r <= 0) break;
      body -= r;
    }
    struct response *res = hello;
    if (path && strncmp(path, "/json", 5) == 0) res = json;
    else if (path && strncmp(path, "/download", 9) == 0) res = download;
    else if (path && strncmp(path, "/upload", 7) == 0) res = upload;
    write_all(fd, res->bytes, res->len);
    close(fd);
  }
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: %s SOCKET PROCESSES HELLO JSON DOWNLOAD\n", argv[0]); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct response hello = make_response("text/plain", argv[3]);
  struct response json = make_response("application/json", argv[4]);
  struct response download = make_response("application/octet-stream", argv[5]);
  static char upload_bytes[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n102400\n";
  struct response upload = { upload_bytes, sizeof upload_bytes - 1 };

  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
  chmod(argv[1], 0666);
  if (listen(s, 1024) < 0) { perror("listen"); return 1; }

  int n = atoi(argv[2]);
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) { serve(s, &hello, &json, &download, &upload); return 0; }
  }
  fprintf(stderr, "ceiling: %d processes on %s\n", n, argv[1]);
  /* The parent only waits: SIGTERM (default action) ends it; the children are killed with the group. */
  while (wait(NULL) > 0) {}
  return 0;
}
