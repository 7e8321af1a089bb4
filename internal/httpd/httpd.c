/* httpd.c - coro httpd's server: per loop, one accept coroutine on its own
 * SO_REUSEPORT listener, and one detached coroutine per connection that
 * reads request heads, answers them in order (keep-alive and pipelining)
 * and sends file bodies with coro_sendfile.
 *
 * HTTPS (conf->tls): each connection's coroutine runs the TLS handshake
 * first, then reads and writes through its TLS connection (httpd_tls_*,
 * tls_on.c), and a file body is read from the file and written with TLS
 * in parts of TLS_CHUNK bytes instead of sendfile: kernel TLS
 * (the "tls" TCP ULP), with which sendfile could send encrypted, is not
 * used (the kernels this was built on did not offer it).
 *
 * Memory: a connection's read buffer exists only while a request is being
 * read or answered. When the buffer holds no pipelined bytes the
 * connection frees it and waits for readability with no buffer at all, so
 * an idle keep-alive connection costs its small record and its coroutine.
 * Nothing points into a coroutine's stack across a switch, so the server
 * runs unchanged with CORO_STACK_SHARED.
 */
#include "httpd.h"
#include "http_parse.h"
/* The engine's fault points (coro__malloc, coro__openat, ...): the
 * server's own allocations and system calls go through them, so that the
 * fault sweeps (fault_test.go) fail each of them in turn. */
#include "coro_internal.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The per-request buffer: a whole request head plus one byte, so that a
 * head over the limits is seen as such; then the decoded URL path, the
 * path relative to the root, and the response head. Keeping all of them
 * here rather than on the coroutine's stack means a connection suspended
 * in a write has little stack to save in CORO_STACK_SHARED mode, and an
 * idle one holds none of them. */
#define BUF_READ (HTTP_HEAD_MAX + 1)
#define BUF_PATH (HTTP_LINE_MAX + 1)
#define BUF_REL (BUF_PATH + 16)
#define BUF_HDR 1024
/* Then the ranges of a Range header, at an offset aligned for them. */
#define BUF_RANGES_AT                                                        \
  ((BUF_READ + BUF_PATH + BUF_REL + BUF_HDR + 15) / 16 * 16)
#define BUF_SIZE (BUF_RANGES_AT + HTTP_RANGES_MAX * sizeof(http_range))

/* Fairness: a connection lets the other coroutines of its loop run after
 * moving TURN_BYTES (a body sent, a body drained by the lingering close),
 * or after TURN_BYTES / REQUEST_COST requests. A client that reads (or
 * sends, or pipelines) as fast as the server writes never makes its
 * connection wait for the socket, so without turns one fast downloader
 * held its loop for as long as it kept up, and every other client of the
 * loop waited (p50 0.8 ms to 34 ms). 256 KiB is about 50 us of sendfile
 * on loopback; the yield costs a switch. */
#define TURN_BYTES (256u * 1024u)
#define REQUEST_COST (16u * 1024u)

/* HTTPS: the response head is held back in the connection's TLS buffer
 * of TLS_SMALL bytes (as MSG_MORE holds it for plain HTTP) and leaves
 * with the start of the body, in its first record: a small file's whole
 * response is one record. A larger body is read from the file and handed
 * to TLS TLS_CHUNK bytes at a time (4 records of 16 KiB, which
 * coro_tls_write sends with one system call), through a buffer of that
 * size taken for the part being sent: the request buffer, which every
 * busy connection holds, stays small. */
#define TLS_SMALL (16u * 1024u)
#define TLS_CHUNK (64u * 1024u)

typedef struct conn {
  httpd_conf *conf;
  httpd_listener *l;
  struct conn *prev, *next; /* in l->conns */
  coro *co;                 /* its coroutine */
  int idle;                 /* waiting for a request, holding no bytes of one */
  int status;               /* of the response being sent, for the log */
  uint64_t sent;            /* body bytes of it sent, for the log */
  char addr[48];            /* the client's address, when logging */
  int fd;
  int root;    /* the root of the request being served (httpd_root) */
  char *buf;   /* BUF_SIZE bytes, or NULL while idle */
  size_t len;  /* bytes read into buf and not yet consumed */
  char *hdr;   /* the response head, inside buf */
  struct coro_tls *tls; /* HTTPS: the connection's TLS, else NULL */
  char *tbuf;  /* HTTPS: TLS_SMALL bytes after buf's, for a record */
  size_t tpend; /* HTTPS: head bytes held back in tbuf */
  size_t turn; /* work done since the connection last yielded, < TURN_BYTES */
} conn;

static void count(int64_t *p, int64_t d) {
  __atomic_fetch_add(p, d, __ATOMIC_RELAXED);
}

static const char *status_text(int code) {
  switch (code) {
  case 200: return "OK";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 412: return "Precondition Failed";
  case 414: return "URI Too Long";
  case 416: return "Range Not Satisfiable";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

/* The Content-Type of the file rel, in three parts to print one after the
 * other: the type, and "; charset=" with the charset, or "" twice. */
static const char *content_type(const httpd_conf *conf, const char *rel,
                                const char **sep, const char **charset) {
  const char *type = mime_lookup(conf->mime, rel);
  if (!type)
    type = "application/octet-stream";
  int cs = conf->charset && mime_wants_charset(type);
  *sep = cs ? "; charset=" : "";
  *charset = cs ? conf->charset : "";
  return type;
}

/* The Cache-Control rule for the file rel (relative to the root; "./" for
 * a file of the root's own index), or NULL: see httpd_conf.cache. */
static const httpd_cache_rule *cache_rule(const httpd_conf *conf,
                                          const char *rel) {
  if (rel[0] == '.' && rel[1] == '/')
    rel += 2;
  const char *base = strrchr(rel, '/');
  const char *dot = strrchr(base ? base + 1 : rel, '.');
  const httpd_cache_rule *by_prefix = NULL, *by_ext = NULL, *all = NULL;
  size_t longest = 0;
  for (int i = 0; i < conf->ncache; i++) {
    const httpd_cache_rule *r = &conf->cache[i];
    if (r->prefix) {
      size_t n = strlen(r->prefix);
      if (n >= longest && strncmp(rel, r->prefix, n) == 0)
        by_prefix = r, longest = n;
    } else if (r->ext) {
      if (dot && strcasecmp(dot + 1, r->ext) == 0)
        by_ext = r;
    } else {
      all = r;
    }
  }
  return by_prefix ? by_prefix : by_ext ? by_ext : all;
}

static void http_date(time_t t, char *out, size_t cap) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Writes the status line, the common headers, extra and extra2 (more
 * header lines, each ending in CRLF, or "") and the blank line into
 * out[0..cap). Returns the length of the whole head, which is cap or more
 * when it did not fit, as snprintf does. */
static size_t format_head(char *out, size_t cap, int code, int keep,
                          const char *extra, const char *extra2) {
  /* The Date line changes once a second: formatted then, per thread
   * (each loop is a thread), not per response (gmtime_r and strftime
   * cost more than the rest of the head). */
  static _Thread_local time_t date_sec = -1;
  static _Thread_local char date[64];
  time_t now = time(NULL);
  if (now != date_sec) {
    http_date(now, date, sizeof date);
    date_sec = now;
  }
  int n = snprintf(out, cap,
                   "HTTP/1.1 %d %s\r\nServer: coro-httpd\r\nDate: %s\r\n"
                   "Connection: %s\r\n%s%s\r\n",
                   code, status_text(code), date, keep ? "keep-alive" : "close",
                   extra, extra2);
  return n < 0 ? 0 : (size_t)n;
}

/* Appends a printf-formatted string to buf[*n..cap), which always holds a
 * NUL-terminated string: what does not fit is cut. */
static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
  if (*n >= cap - 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
  va_end(ap);
  if (k > 0)
    *n = *n + (size_t)k < cap - 1 ? *n + (size_t)k : cap - 1;
}

/* format_head into c->hdr, for heads whose extra lines are known to fit. */
static int head(conn *c, int code, int keep, const char *extra) {
  c->status = code;
  size_t n = format_head(c->hdr, BUF_HDR, code, keep, extra, "");
  return n < BUF_HDR ? (int)n : BUF_HDR - 1;
}

static int64_t write_deadline(conn *c) {
  return coro_now() + c->conf->write_timeout_ns;
}

/* Counts n bytes of work for c and yields when its turn is used up.
 * 0, or -ECANCELED when the connection's coroutine has been cancelled. */
static int spend(conn *c, size_t n) {
  c->turn += n;
  if (c->turn < TURN_BYTES)
    return 0;
  c->turn = 0;
  count(&c->conf->turns, 1);
  return coro_yield();
}

static ssize_t send_head(conn *c, const char *p, size_t n, int more,
                         int64_t deadline);

/* Sends a response with a short text body (none for HEAD): an error, or a
 * redirect. extra_hdr is more header lines, or "". */
static int send_error(conn *c, int code, int keep, int head_only,
                      const char *extra_hdr) {
  char body[64], tail[128];
  int bn = snprintf(body, sizeof body, "%d %s\n", code, status_text(code));
  snprintf(tail, sizeof tail,
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Length: %d\r\n",
           bn);
  char *hdr = c->hdr;
  size_t hn = format_head(hdr, BUF_HDR, code, keep, extra_hdr, tail);
  if (hn >= BUF_HDR) {
    /* A Location longer than the head buffer: a head of its own for this
     * response, so that the buffer every connection has stays small. */
    if (!(hdr = coro__malloc(hn + 1)))
      return -ENOMEM;
    size_t n2 = format_head(hdr, hn + 1, code, keep, extra_hdr, tail);
    hn = n2 < hn ? n2 : hn;
  }
  struct iovec iov[2] = {{hdr, hn}, {body, head_only ? 0 : (size_t)bn}};
  int64_t dl = write_deadline(c);
  size_t total = iov[0].iov_len + iov[1].iov_len, done = 0;
  int rc = 0;
  if (c->tls) {
    ssize_t w = send_head(c, hdr, hn, 1, dl);
    if (w >= 0)
      w = send_head(c, body, iov[1].iov_len, 0, dl);
    rc = w < 0 ? (int)w : 0;
    done = total;
  }
  while (done < total) {
    ssize_t w = coro_writev(c->fd, iov, 2, dl);
    if (w < 0) {
      rc = (int)w;
      break;
    }
    done += (size_t)w;
    for (int i = 0; i < 2; i++) {
      size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
      iov[i].iov_base = (char *)iov[i].iov_base + k;
      iov[i].iov_len -= k;
      w -= (ssize_t)k;
    }
  }
  if (hdr != c->hdr)
    free(hdr);
  c->status = code;
  if (rc < 0)
    return rc;
  c->sent = head_only ? 0 : (uint64_t)bn;
  count(&c->conf->requests, 1);
  return 0;
}

/* Answers a request for a directory without its final slash with a
 * redirect to the URL with the slash, so that relative links in its index
 * resolve against the directory, as in other servers. The Location is
 * built from rel, the normalized path relative to the root (so never
 * "//host/", which a client would take for another host) and the query
 * of the request-target, both percent-encoded: no byte of the request
 * reaches the header as it was sent. */
static int send_redirect(conn *c, const char *rel, http_str target, int keep,
                         int head_only) {
  static const char prefix[] = "Location: /";
  const char *p = strcmp(rel, ".") == 0 ? "" : rel;
  size_t pn = strlen(p);
  http_str q = http_target_query(target);
  size_t cap = sizeof prefix - 1 + http_uri_encode(p, pn, 0, NULL, 0) + 1 +
               (q.p ? 1 + http_uri_encode(q.p, q.n, 1, NULL, 0) : 0) +
               sizeof "\r\n";
  char *loc = coro__malloc(cap);
  if (!loc)
    return -ENOMEM;
  size_t o = sizeof prefix - 1;
  memcpy(loc, prefix, o);
  o += http_uri_encode(p, pn, 0, loc + o, cap - o);
  if (pn > 0)
    loc[o++] = '/';
  if (q.p) {
    loc[o++] = '?';
    o += http_uri_encode(q.p, q.n, 1, loc + o, cap - o);
  }
  memcpy(loc + o, "\r\n", sizeof "\r\n");
  int rc = send_error(c, 301, keep, head_only, loc);
  free(loc);
  return rc;
}

/* Whether a decoded path names a directory as such: it ends in "/", or in
 * "/." or "/.." (the same once dot segments are removed). */
static int dir_form(const char *path) {
  size_t n = strlen(path);
  return (n >= 1 && path[n - 1] == '/') ||
         (n >= 2 && path[n - 1] == '.' && path[n - 2] == '/') ||
         (n >= 3 && path[n - 1] == '.' && path[n - 2] == '.' && path[n - 3] == '/');
}

/* Opens rel (relative, no ".." segment) beneath root so that no symlink
 * or ".." leads outside it: openat2 with RESOLVE_BENEATH where the kernel
 * has it, else a walk with O_NOFOLLOW that refuses every symlink. */
static int open_beneath(int root, const char *rel) {
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  struct open_how how = {.flags = (uint64_t)flags,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  int fd = coro__openat2(root, rel, &how);
  if (fd >= 0)
    return fd;
  if (errno != ENOSYS && errno != EPERM)
    return -errno;
  char seg[256];
  int dir = root;
  const char *p = rel;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n >= sizeof seg) {
      fd = -ENAMETOOLONG;
      break;
    }
    memcpy(seg, p, n);
    seg[n] = '\0';
    fd = coro__openat(dir, seg,
                      slash ? (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                            : (flags | O_NOFOLLOW));
    if (fd < 0)
      fd = -errno;
    if (dir != root)
      close(dir);
    if (fd < 0 || !slash)
      break;
    dir = fd;
    p = slash + 1;
  }
  return fd;
}

/* Turns the decoded URL path into a path relative to the root ("." for
 * the root itself), removing dot segments as RFC 3986 5.2.4 does: "."
 * goes, and ".." takes the segment before it away, so "/sub/../a.txt" is
 * "a.txt". Returns -1 for a ".." that would climb above the root, which
 * RFC 3986 would quietly stop at: a request that tries is an attack, and
 * refusing it tells its sender so. The segments are decoded ones, so
 * "%2e%2e" counts as "..": it can only name the same file as "..". */
static int relative_path(const char *path, char *out, size_t cap) {
  size_t o = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/')
      p++;
    const char *e = strchrnul(p, '/');
    size_t n = (size_t)(e - p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (o == 0)
        return -1;
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--; /* the slash before the segment taken away */
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (o + n + 2 > cap)
        return -1;
      if (o > 0)
        out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p = e;
  }
  if (o == 0)
    out[o++] = '.';
  out[o] = '\0';
  return 0;
}

/* Whether rel (from relative_path) has a segment that starts with '.',
 * other than a first one of ".well-known": hidden files and directories
 * (.git, .env, .htpasswd) are seldom meant to be published, and a copied
 * site tree brings them along; .well-known is the one place (RFC 8615)
 * meant for the public, where ACME's http-01 challenges and security.txt
 * live. */
static int hidden(const char *rel) {
  static const char wk[] = ".well-known";
  const char *p = rel;
  if (strncmp(p, wk, sizeof wk - 1) == 0 &&
      (p[sizeof wk - 1] == '/' || p[sizeof wk - 1] == '\0'))
    p += sizeof wk - 1;
  else if (p[0] == '.' && p[1] != '\0')
    return 1;
  return strstr(p, "/.") != NULL;
}

static int errno_status(int err) {
  switch (err) {
  case -ENOENT:
  case -ENOTDIR:
  case -ENAMETOOLONG:
    return 404;
  case -ELOOP:
  case -EXDEV:
  case -EACCES:
  case -EPERM:
    return 403;
  }
  return 500;
}

/* HTTPS: writes the head held back in tbuf. 0 or a negative error. */
static ssize_t tls_flush(conn *c, int64_t deadline) {
  if (c->tpend == 0)
    return 0;
  ssize_t w = httpd_tls_write(c->tls, c->tbuf, c->tpend, deadline);
  c->tpend = 0;
  return w < 0 ? w : 0;
}

/* HTTPS: send_head's bytes, held back in tbuf while more follows and they
 * fit. n, or a negative error. */
static ssize_t tls_send(conn *c, const char *p, size_t n, int more,
                        int64_t deadline) {
  if (c->tpend + n <= TLS_SMALL) {
    memcpy(c->tbuf + c->tpend, p, n);
    c->tpend += n;
    ssize_t w = more ? 0 : tls_flush(c, deadline);
    return w < 0 ? w : (ssize_t)n;
  }
  ssize_t w = tls_flush(c, deadline);
  if (w >= 0)
    w = httpd_tls_write(c->tls, p, n, deadline);
  return w;
}

/* HTTPS: sendfile's part, read from the file into tbuf after the head held
 * back there and written with TLS, a record at a time. The bytes sent
 * (fewer than count only at the file's end), or a negative error. */
static ssize_t tls_sendfile(conn *c, int fd, int64_t *off, size_t count,
                            int64_t deadline) {
  char *b = c->tbuf;
  size_t cap = TLS_SMALL, done = 0;
  ssize_t w = 0;
  if (c->tpend + count > TLS_SMALL) {
    char *big = coro__malloc(TLS_CHUNK);
    if (big) { /* else in small parts */
      memcpy(big, c->tbuf, c->tpend);
      b = big;
      cap = TLS_CHUNK;
    }
  }
  while (w >= 0 && done < count) {
    size_t k = cap - c->tpend;
    if (k > count - done)
      k = count - done;
    ssize_t r;
    while ((r = coro__pread(fd, b + c->tpend, k, (off_t)*off)) < 0 &&
           errno == EINTR)
      ; /* a signal, not an error of the file */
    if (r <= 0) {
      w = r < 0 ? -errno : 0;
      break;
    }
    w = httpd_tls_write(c->tls, b, c->tpend + (size_t)r, deadline);
    c->tpend = 0;
    if (w >= 0) {
      *off += r;
      done += (size_t)r;
    }
  }
  if (b != c->tbuf)
    free(b);
  return w < 0 ? w : (ssize_t)done;
}

/* Send a response head. When a body follows, MSG_MORE holds the head back
 * so that it leaves in the same segments as the start of the body (what
 * nginx gets from tcp_nopush): the connection has TCP_NODELAY, and a head
 * sent alone costs the client a separate packet and wakeup. */
static ssize_t send_head(conn *c, const char *p, size_t n, int more,
                         int64_t deadline) {
  if (c->tls)
    return tls_send(c, p, n, more, deadline);
  size_t done = 0;
  while (done < n) {
    ssize_t w = coro_send(c->fd, p + done, n - done, more ? MSG_MORE : 0,
                          deadline);
    if (w < 0)
      return w;
    done += (size_t)w;
  }
  return (ssize_t)done;
}

/* Sends bytes r.first to r.last of the file fd, in parts that end where
 * the turn does, each with a write timeout of its own: the timeout bounds
 * how long the client may take to accept a part, not the whole file,
 * whose transfer time depends on its size. 0, or a negative errno. */
static ssize_t send_range(conn *c, int fd, http_range r) {
  int64_t off = (int64_t)r.first;
  ssize_t w = 0;
  for (uint64_t left = r.last - r.first + 1; w >= 0 && left > 0;) {
    size_t part = TURN_BYTES - c->turn;
    if (part > left)
      part = (size_t)left;
    w = c->tls ? tls_sendfile(c, fd, &off, part, write_deadline(c))
               : coro_sendfile(c->fd, fd, &off, part, write_deadline(c));
    if (w >= 0 && (size_t)w != part)
      w = -EIO; /* the file shrank under us: the framing is broken */
    if (w >= 0) {
      left -= part;
      c->sent += part;
      w = spend(c, part);
    }
  }
  return w;
}

/* Formats the head of part i of a multipart/byteranges body into
 * out[0..cap) (nothing when cap is 0) and returns its length: the
 * delimiter (after the CRLF that ends the part before), the part's
 * Content-Type and Content-Range, the blank line. */
static size_t part_head(char *out, size_t cap, int i, const char *boundary,
                        const char *ctype, const char *csep, const char *cset,
                        http_range r, uint64_t size) {
  int n = snprintf(out, cap,
                   "%s--%s\r\nContent-Type: %s%s%s\r\n"
                   "Content-Range: bytes %llu-%llu/%llu\r\n\r\n",
                   i ? "\r\n" : "", boundary, ctype, csep, cset,
                   (unsigned long long)r.first, (unsigned long long)r.last,
                   (unsigned long long)size);
  return n < 0 ? 0 : (size_t)n;
}

/* Precompressed files (nginx's gzip_static): when the client accepts br or
 * gzip (q > 0) and rel.br or rel.gz is a regular file beside rel, returns
 * that file's fd, closing fd, with *st its status and *coding set; else
 * fd. The coding with the higher q is tried first, br on a tie (it is the
 * smaller). rel has room for the extension: BUF_REL is 16 bytes longer
 * than any rel. */
static int precompressed(conn *c, const http_request *req, char *rel, int fd,
                         struct stat *st, const char **coding) {
  static const struct {
    const char *name, ext[4];
  } codings[] = {{"br", ".br"}, {"gzip", ".gz"}};
  int q[2] = {http_accept_coding(req->fields, codings[0].name),
              http_accept_coding(req->fields, codings[1].name)};
  size_t rn = strlen(rel);
  for (int k = 0; k < 2; k++) {
    int i = q[1] > q[0] ? 1 - k : k;
    if (q[i] <= 0)
      continue;
    memcpy(rel + rn, codings[i].ext, sizeof codings[i].ext);
    int zfd = open_beneath(c->root, rel);
    rel[rn] = '\0';
    struct stat zst;
    if (zfd >= 0 && fstat(zfd, &zst) == 0 && S_ISREG(zst.st_mode)) {
      close(fd);
      *st = zst;
      *coding = codings[i].name;
      return zfd;
    }
    if (zfd >= 0)
      close(zfd);
  }
  return fd;
}

/* Answers with the listing of the directory rel (see autoindex.c), made
 * whole before it is sent, with a Content-Length; no validators, as the
 * listing has no file of its own. Not inlined: its frame is needed only
 * while a listing is made. 0, or a negative errno. */
static __attribute__((noinline)) int send_listing(conn *c, const char *rel,
                                                  int keep, int head_only) {
  int fd = open_beneath(c->root, rel);
  if (fd < 0)
    return send_error(c, errno_status(fd), keep, head_only, "");
  size_t rn = strlen(rel);
  char *url = malloc(rn + 3);
  if (!url) {
    close(fd);
    return send_error(c, 500, keep, head_only, "");
  }
  if (strcmp(rel, ".") == 0)
    memcpy(url, "/", 2);
  else
    snprintf(url, rn + 3, "/%s/", rel);
  char *html;
  size_t len;
  int rc = httpd_autoindex(fd, url, c->conf->allow_dotfiles, &html, &len);
  free(url);
  if (rc < 0)
    return send_error(c, errno_status(rc), keep, head_only, "");
  char extra[96];
  snprintf(extra, sizeof extra,
           "Content-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n",
           len);
  int hn = head(c, 200, keep, extra);
  ssize_t w = send_head(c, c->hdr, (size_t)hn, !head_only, write_deadline(c));
  for (size_t off = 0; w >= 0 && !head_only && off < len;) {
    size_t part = TURN_BYTES - c->turn;
    if (part > len - off)
      part = len - off;
    w = send_head(c, html + off, part, 0, write_deadline(c));
    if (w >= 0) {
      off += part;
      c->sent += part;
      w = spend(c, part);
    }
  }
  free(html);
  if (w < 0)
    return (int)w;
  count(&c->conf->requests, 1);
  return 0;
}

int httpd_root(const httpd_conf *conf, const http_request *req) {
  if (conf->nvhosts == 0)
    return conf->root_fd;
  char name[HTTP_HOST_MAX + 1];
  int n = http_host_name(req, name, sizeof name);
  if (n < 0)
    return n;
  for (int lo = 0, hi = conf->nvhosts; n > 0 && lo < hi;) {
    int mid = lo + (hi - lo) / 2;
    int cmp = strcmp(name, conf->vhosts[mid].name);
    if (cmp == 0)
      return conf->vhosts[mid].root_fd;
    if (cmp < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return conf->root_fd;
}

/* Answers one parsed request. Returns 1 to keep the connection, 0 to close
 * it, a negative errno when the connection failed. */
static int serve(conn *c, const http_request *req) {
  int keep = req->keep_alive && !req->has_body && !c->l->draining;
  int head_only = req->method == HTTP_M_HEAD;
  int rc;
  if (req->method == HTTP_M_UNKNOWN || req->method == HTTP_M_OTHER) {
    int code = req->method == HTTP_M_OTHER ? 405 : 501;
    rc = send_error(c, code, keep, 0, code == 405 ? "Allow: GET, HEAD\r\n" : "");
    return rc < 0 ? rc : keep;
  }
  if ((c->root = httpd_root(c->conf, req)) < 0) {
    rc = send_error(c, 400, 0, head_only, "");
    return rc < 0 ? rc : 0;
  }
  char *path = c->buf + BUF_READ;
  char *rel = path + BUF_PATH;
  if (http_decode_path(req->target, path, BUF_PATH) < 0) {
    rc = send_error(c, 400, 0, head_only, "");
    return rc < 0 ? rc : 0;
  }
  if (relative_path(path, rel, BUF_PATH) < 0) {
    rc = send_error(c, 403, keep, head_only, "");
    return rc < 0 ? rc : keep;
  }
  if (!c->conf->allow_dotfiles && hidden(rel)) {
    rc = send_error(c, 404, keep, head_only, ""); /* as if it were not there */
    return rc < 0 ? rc : keep;
  }
  int fd = open_beneath(c->root, rel);
  struct stat st;
  if (fd >= 0 && coro__fstat(fd, &st) < 0) {
    close(fd);
    fd = -errno;
  }
  if (fd >= 0 && !S_ISDIR(st.st_mode) && dir_form(path)) {
    close(fd); /* "file/" names a directory that is not there */
    fd = -ENOTDIR;
  }
  if (fd >= 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    if (!dir_form(path)) {
      rc = send_redirect(c, rel, req->target, keep, head_only);
      return rc < 0 ? rc : keep;
    }
    size_t rn = strlen(rel);
    memcpy(rel + rn, "/index.html", sizeof "/index.html");
    fd = open_beneath(c->root, rel);
    if (fd == -ENOENT && c->conf->autoindex) {
      rel[rn] = '\0';
      rc = send_listing(c, rel, keep, head_only);
      return rc < 0 ? rc : keep;
    }
    if (fd == -ENOENT)
      fd = -EACCES; /* a directory without an index is not listed */
    if (fd >= 0 && coro__fstat(fd, &st) < 0) {
      close(fd);
      fd = -errno;
    }
  }
  if (fd >= 0 && !S_ISREG(st.st_mode)) {
    close(fd);
    fd = -EACCES;
  }
  if (fd < 0) {
    rc = send_error(c, errno_status(fd), keep, head_only, "");
    return rc < 0 ? rc : keep;
  }
  const char *coding = NULL;
  if (c->conf->precompressed)
    fd = precompressed(c, req, rel, fd, &st, &coding);

  uint64_t size = (uint64_t)st.st_size;
  char etag[64], lm[64];
  /* A compressed file's tag names its coding: it can never equal the
   * plain file's, even when the two have the same size and time. */
  snprintf(etag, sizeof etag, "\"%llx-%llx%s%s\"", (unsigned long long)size,
           (unsigned long long)st.st_mtime, coding ? "-" : "",
           coding ? coding : "");
  http_date(st.st_mtime, lm, sizeof lm);
  /* The preconditions in the order of RFC 9110 13.2.2. If-Match compares
   * strongly, If-None-Match weakly; a date condition is ignored when
   * If-Match or If-None-Match is there, and when its date is invalid. */
  int code = 200;
  if (req->if_match.p) {
    if (!http_etag_list_match(req->fields, "if-match", etag, 1))
      code = 412;
  } else if (req->if_unmodified_since.p) {
    time_t ius = http_parse_date(req->if_unmodified_since);
    if (ius != (time_t)-1 && st.st_mtime > ius)
      code = 412;
  }
  if (code == 412) {
    close(fd);
    rc = send_error(c, 412, keep, head_only, "");
    return rc < 0 ? rc : keep;
  }
  if (req->if_none_match.p) {
    if (http_etag_list_match(req->fields, "if-none-match", etag, 0))
      code = 304;
  } else if (req->if_modified_since.p) {
    time_t ims = http_parse_date(req->if_modified_since);
    if (ims != (time_t)-1 && st.st_mtime <= ims)
      code = 304;
  }
  /* Then the Range, unless an If-Range says the client's copy is another
   * version of the file: then the whole file (RFC 9110 13.1.5). */
  http_range *rs = (http_range *)(void *)(c->buf + BUF_RANGES_AT);
  int nr = 0;
  uint64_t len = size;
  if (code == 200 && req->range.p &&
      (!req->if_range.p ||
       http_if_range_match(req->if_range, etag, st.st_mtime))) {
    nr = http_parse_ranges(req->range, size, rs, c->conf->max_ranges);
    if (nr < 0) {
      close(fd);
      char cr[64];
      snprintf(cr, sizeof cr, "Content-Range: bytes */%llu\r\n",
               (unsigned long long)size);
      rc = send_error(c, 416, keep, head_only, cr);
      return rc < 0 ? rc : keep;
    }
    if (nr > 0)
      code = 206;
  }
  if (nr == 0) /* the whole file (the parser may have left ranges there) */
    rs[0] = (http_range){0, size ? size - 1 : 0};
  /* The extra header lines go where the decoded path was, no longer
   * needed: they are too long for the stack of a coroutine that may be
   * suspended in a write with CORO_STACK_SHARED. Bounded (the type, the
   * charset and the Cache-Control value are), they fit in the head. */
  char *extra = path;
  size_t n = 0;
  const char *csep, *cset, *ctype = content_type(c->conf, rel, &csep, &cset);
  char boundary[32];
  if (nr > 1) {
    /* Several ranges: one multipart/byteranges body (RFC 9110 14.6) with
     * a part per range, its length known before it is sent. */
    snprintf(boundary, sizeof boundary, "%016llx",
             (unsigned long long)__atomic_add_fetch(&c->conf->boundaries, 1,
                                                    __ATOMIC_RELAXED) *
                 0x9e3779b97f4a7c15ull);
    len = sizeof "\r\n--" - 1 + strlen(boundary) + sizeof "--\r\n" - 1;
    for (int i = 0; i < nr; i++)
      len += part_head(NULL, 0, i, boundary, ctype, csep, cset, rs[i], size) +
             rs[i].last - rs[i].first + 1;
  } else if (nr == 1) {
    len = rs[0].last - rs[0].first + 1;
  }
  if (code == 304) {
    put(extra, BUF_PATH, &n, "ETag: %s\r\nLast-Modified: %s\r\n", etag, lm);
  } else {
    if (nr > 1)
      put(extra, BUF_PATH, &n,
          "Content-Type: multipart/byteranges; boundary=%s\r\n", boundary);
    else
      put(extra, BUF_PATH, &n, "Content-Type: %s%s%s\r\n", ctype, csep, cset);
    put(extra, BUF_PATH, &n,
        "Content-Length: %llu\r\nETag: %s\r\n"
        "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n",
        (unsigned long long)len, etag, lm);
    if (nr == 1)
      put(extra, BUF_PATH, &n, "Content-Range: bytes %llu-%llu/%llu\r\n",
          (unsigned long long)rs[0].first, (unsigned long long)rs[0].last,
          (unsigned long long)size);
  }
  if (coding && code != 304)
    put(extra, BUF_PATH, &n, "Content-Encoding: %s\r\n", coding);
  /* Every file may have a compressed sibling, and finding out would cost
   * a syscall for clients that would not take it: with precompressed
   * files on, every response says it depends on Accept-Encoding. */
  if (c->conf->precompressed)
    put(extra, BUF_PATH, &n, "Vary: Accept-Encoding\r\n");
  /* A 304 carries the Cache-Control and Expires a 200 would (RFC 9110
   * 15.4.5), so that the cache refreshes its copy's lifetime. */
  const httpd_cache_rule *cr = cache_rule(c->conf, rel);
  if (cr) {
    put(extra, BUF_PATH, &n, "Cache-Control: %s\r\n", cr->value);
    if (cr->max_age >= 0) {
      char exp[64];
      http_date(time(NULL) + (time_t)cr->max_age, exp, sizeof exp);
      put(extra, BUF_PATH, &n, "Expires: %s\r\n", exp);
    }
  }
  int hn = head(c, code, keep, extra);
  int body = code != 304 && !head_only && len > 0;
  ssize_t w = send_head(c, c->hdr, (size_t)hn, body, write_deadline(c));
  if (body && nr <= 1) {
    if (w >= 0)
      w = send_range(c, fd, rs[0]);
  } else if (body) {
    /* Each part's head goes where the extra lines were. */
    for (int i = 0; w >= 0 && i < nr; i++) {
      size_t pn = part_head(extra, BUF_PATH, i, boundary, ctype, csep, cset,
                            rs[i], size);
      w = send_head(c, extra, pn, 1, write_deadline(c));
      if (w >= 0)
        w = send_range(c, fd, rs[i]);
    }
    if (w >= 0) {
      size_t pn = (size_t)snprintf(extra, BUF_PATH, "\r\n--%s--\r\n", boundary);
      w = send_head(c, extra, pn, 0, write_deadline(c));
    }
  }
  close(fd);
  if (w < 0)
    return (int)w;
  count(&c->conf->requests, 1);
  return keep;
}

/* Closes after an error response without losing it, as nginx's lingering
 * close does: stop writing (the client reads the response to its end),
 * then read and drop what the client still sends until it closes its
 * side, waiting at most lingering_timeout for each read and lingering_time
 * for all of them. Closing with unread bytes would make the kernel reset
 * the connection, and the reset destroys the response in flight when the
 * client has not read it yet: one uploading a body larger than the socket
 * buffers has not. The request buffer, which the caller still holds,
 * takes the bytes. */
static void lingering_close(conn *c) {
  httpd_conf *conf = c->conf;
  if (c->tls) /* close_notify first: the client sees a clean end */
    httpd_tls_shutdown(c->tls, coro_now() + conf->lingering_timeout_ns);
  if (coro_shutdown(c->fd, SHUT_WR) < 0)
    return;
  int64_t end = coro_now() + conf->lingering_time_ns;
  for (;;) {
    int64_t dl = coro_now() + conf->lingering_timeout_ns;
    ssize_t r = coro_read(c->fd, c->buf, BUF_READ, dl < end ? dl : end);
    if (r <= 0 || spend(c, (size_t)r) < 0)
      break;
  }
}

static void buf_free(conn *c) {
  if (c->buf) {
    free(c->buf);
    c->buf = NULL;
    count(&c->conf->live_bufs, -1);
  }
}

/* Reads one request head (after bytes already in the buffer) and answers
 * it. Returns 1 to keep the connection, 0 to close it after an error
 * response (lingering), -1 to close it at once.
 *
 * Never inlined: its frame holds the request record and the response's
 * scratch arrays (with serve and send_error inlined here, about 1 KiB). A coroutine suspended in
 * CORO_STACK_SHARED mode keeps a copy of every frame it is suspended
 * under, so conn_main must wait for an idle connection's next request in
 * a frame of a few words: inlined, these arrays made every idle
 * connection save 1.4 KiB of stack instead of about 300 bytes. */
static __attribute__((noinline)) int conn_request(conn *c) {
  if (!c->buf) {
    if (!(c->buf = coro__malloc(BUF_SIZE + (c->tls ? TLS_SMALL : 0))))
      return -1;
    c->hdr = c->buf + BUF_READ + BUF_PATH + BUF_REL;
    c->tbuf = c->tls ? c->buf + BUF_SIZE : NULL;
    count(&c->conf->live_bufs, 1);
  }
  int64_t dl = coro_now() + c->conf->header_timeout_ns;
  http_parser p;
  http_request req;
  http_parser_init(&p, &req);
  c->status = 0;
  c->sent = 0;
  int n;
  while ((n = http_parser_feed(&p, c->buf, c->len, &req)) == 0) {
    if (c->len >= BUF_READ) {
      n = -431; /* the parser's limits make this unreachable */
      break;
    }
    ssize_t r = c->tls ? httpd_tls_read(c->tls, c->buf + c->len,
                                        BUF_READ - c->len, dl)
                       : coro_read(c->fd, c->buf + c->len, BUF_READ - c->len,
                                   dl);
    if (r == -ETIMEDOUT && c->len > 0) {
      n = -408;
      break;
    }
    if (r <= 0)
      return -1;
    c->len += (size_t)r;
  }
  count(&c->conf->parse_work, (int64_t)p.work);
  if (n < 0) {
    int rc = send_error(c, -n, 0, 0, "") == 0 ? 0 : -1;
    if (c->conf->log)
      httpd_log_request(c->conf->log, c->l->loop, c->addr, &req, c->status,
                        c->sent);
    return rc;
  }
  int keep = serve(c, &req);
  if (c->conf->log && c->status)
    httpd_log_request(c->conf->log, c->l->loop, c->addr, &req, c->status,
                      c->sent);
  if (keep <= 0)
    return keep == 0 ? 0 : -1;
  c->len -= (size_t)n;
  memmove(c->buf, c->buf + n, c->len);
  return 1;
}

static void *conn_main(void *arg) {
  conn *c = arg;
  httpd_conf *conf = c->conf;
  httpd_listener *l = c->l;
  c->co = coro_self();
  c->next = l->conns;
  if (l->conns)
    l->conns->prev = c;
  l->conns = c;
  int rc = 1;
  /* HTTPS: the handshake within the time a request head has. */
  if (conf->tls && httpd_tls_accept(&c->tls, c->fd, conf,
                                    coro_now() + conf->header_timeout_ns) < 0)
    rc = -1;
  while (rc > 0) {
    if (c->len == 0) {
      buf_free(c); /* idle: hold no buffer, and no deep frame */
      if (l->draining) {
        rc = -1; /* accepted before the drain began, never read */
        break;
      }
      /* No wait when TLS holds bytes of the next request already read. */
      if (!c->tls || !httpd_tls_pending(c->tls)) {
        c->idle = 1; /* the drain cancels the wait */
        rc = coro_fd_wait(c->fd, CORO_POLLIN,
                          coro_now() + conf->idle_timeout_ns);
        c->idle = 0;
        if (rc < 0) {
          rc = -1;
          break;
        }
      }
    }
    rc = conn_request(c);
    if (rc > 0 && spend(c, REQUEST_COST) < 0)
      rc = -1;
    /* Draining, after a response that began before the drain and so
     * promised keep-alive: close as after "Connection: close", lingering
     * so that a request the client already sent does not reset the
     * connection before it has read this response. */
    if (rc > 0 && l->draining)
      rc = 0;
  }
  if (rc == 0)
    lingering_close(c);
  buf_free(c);
  if (c->tls) {
    if (rc != 0) /* close_notify when it goes at once (lingering sent it) */
      httpd_tls_shutdown(c->tls, 0);
    httpd_tls_close(c->tls);
  }
  coro_fd_close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    l->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  count(&conf->live_conns, -1);
  free(c);
  return NULL;
}

void *httpd_log_main(void *arg) {
  httpd_listener *l = arg;
  while (coro_sleep(coro_now() + 1000000000LL) == 0)
    httpd_log_flush(l->conf->log, l->loop);
  return NULL;
}

void *httpd_drain_main(void *arg) {
  httpd_listener *l = arg;
  l->draining = 1;
  if (l->accept_co)
    coro_cancel(l->accept_co);
  for (conn *c = l->conns; c; c = c->next)
    if (c->idle)
      coro_cancel(c->co);
  return NULL;
}

/* The numeric address of a peer, as nginx's $remote_addr. */
static void peer_name(const struct sockaddr_storage *ss, char *out,
                      size_t cap) {
  const void *a = NULL;
  if (ss->ss_family == AF_INET)
    a = &((const struct sockaddr_in *)(const void *)ss)->sin_addr;
  else if (ss->ss_family == AF_INET6)
    a = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
  if (!a || !inet_ntop(ss->ss_family, a, out, (socklen_t)cap))
    snprintf(out, cap, "-");
}

void *httpd_accept_main(void *arg) {
  httpd_listener *l = arg;
  coro_opts opts = {.name = "httpd-conn"};
  l->accept_co = coro_self();
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    /* The peer's address only for the log: none, no copy. */
    int fd = coro_accept(l->fd, l->conf->log ? (struct sockaddr *)&ss : NULL,
                         l->conf->log ? &sl : NULL, -1);
    if (fd == -ECANCELED || fd == -EBADF)
      break;
    if (fd < 0) {
      /* A transient error (the peer gave up, say): never spin on it. */
      if (coro_sleep(coro_now() + 10 * 1000000LL) < 0)
        break;
      continue;
    }
    int one = 1;
    coro__setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Keep at most unsent_limit bytes queued unsent: without it a client
     * that stops reading pins up to tcp_wmem's maximum (4 MiB) of kernel
     * memory until the write timeout. Only the unsent part is capped, not
     * the bytes in flight, so the window of a fast path is not. */
    coro__setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT,
                     &l->conf->unsent_limit, sizeof l->conf->unsent_limit);
    conn *c = coro__calloc(1, sizeof *c);
    if (!c) {
      coro_fd_close(fd);
      continue;
    }
    c->conf = l->conf;
    c->l = l;
    c->fd = fd;
    if (l->conf->log)
      peer_name(&ss, c->addr, sizeof c->addr);
    count(&l->conf->conns, 1);
    count(&l->conf->live_conns, 1);
    int rc = coro_spawn(NULL, conn_main, c, &opts);
    if (rc < 0) {
      count(&l->conf->live_conns, -1);
      coro_fd_close(fd);
      free(c);
      if (rc == -ESHUTDOWN)
        break;
    }
  }
  coro_fd_close(l->fd);
  l->fd = -1;
  l->accept_co = NULL;
  return NULL;
}
