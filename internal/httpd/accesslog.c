/* accesslog.c - the access log (see accesslog.h). Each loop formats its
 * lines into a buffer of its own, with no lock and no syscall; a full
 * buffer, or one a second old (httpd_log_flush, called by a coroutine of
 * the loop each second), goes to a queue under a mutex, which a writer
 * thread empties with write(2). When the writer falls behind by
 * HTTPD_LOG_QUEUE buffers (a slow or stuck disk), further full buffers
 * are dropped and their lines counted rather than queued without bound or
 * waited for: the loop never waits for the disk. */
#include "accesslog.h"
/* The engine's fault points (coro__calloc, ...), so that httpd's fault
 * sweeps reach the log's allocations and its open too. */
#include "coro_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Room kept for one line: a longer request line, referer or user agent is
 * cut (nginx's lines are bounded by its buffers too). */
#define FIELD_MAX 2048
#define LINE_MAX_ (3 * FIELD_MAX + 256)

typedef struct logbuf {
  struct logbuf *next;
  size_t n;
  int64_t lines;
  char data[HTTPD_LOG_BUF];
} logbuf;

typedef struct loopbuf {
  logbuf *cur;
  time_t sec; /* the second stamp was made for */
  char stamp[40];
} loopbuf;

struct httpd_log {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  pthread_t writer;
  logbuf *queue, **tail; /* full buffers, oldest first */
  logbuf *free_list;
  int queued;
  int stop, reopen;
  int reopen_err;
  int fd, own_fd;
  char *path;
  int combined;
  int nloops;
  int64_t dropped, written;
  loopbuf *loops;
};

size_t httpd_log_escape(const char *s, size_t n, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)s[i];
    if (b < 0x20 || b == '"' || b == '\\' || b >= 0x7f) {
      if (o + 4 > cap)
        break;
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[b >> 4];
      out[o++] = hex[b & 15];
    } else {
      if (o + 1 > cap)
        break;
      out[o++] = (char)b;
    }
  }
  return o;
}

/* The value of the first field line named name (lower case) in fields, or
 * {NULL, 0}. */
static http_str field(http_str fields, const char *name) {
  size_t nl = strlen(name);
  const char *p = fields.p, *end = fields.p + fields.n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1, *e = eol;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
      return (http_str){v, (size_t)(e - v)};
    }
    p = eol + 1;
  }
  return (http_str){NULL, 0};
}

static void *writer_main(void *arg);

/* Opens the log file for appending, created 0644, at the engine's open
 * fault point (coro__openat has no mode argument for O_CREAT). */
static int open_log(const char *path) {
  if (CORO__UNLIKELY(coro__fault(CORO__FP_OPEN))) {
    errno = EMFILE;
    return -1;
  }
  return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int httpd_log_open(httpd_log **out, const char *path, int combined,
                   int nloops) {
  httpd_log *lg = coro__calloc(1, sizeof *lg);
  if (!lg)
    return -ENOMEM;
  lg->fd = 1;
  lg->combined = combined;
  lg->nloops = nloops;
  lg->tail = &lg->queue;
  int rc = -ENOMEM;
  if (!(lg->loops = coro__calloc((size_t)nloops, sizeof *lg->loops)))
    goto fail;
  for (int i = 0; i < nloops; i++)
    if (!(lg->loops[i].cur = coro__calloc(1, sizeof(logbuf))))
      goto fail;
  if (path) {
    if (!(lg->path = coro__malloc(strlen(path) + 1)))
      goto fail;
    strcpy(lg->path, path);
    lg->fd = open_log(path);
    if (lg->fd < 0) {
      rc = -errno;
      goto fail;
    }
    lg->own_fd = 1;
  }
  pthread_mutex_init(&lg->mu, NULL);
  pthread_cond_init(&lg->cond, NULL);
  if ((rc = pthread_create(&lg->writer, NULL, writer_main, lg)) != 0) {
    rc = -rc;
    pthread_cond_destroy(&lg->cond);
    pthread_mutex_destroy(&lg->mu);
    goto fail;
  }
  *out = lg;
  return 0;
fail:
  if (lg->own_fd)
    close(lg->fd);
  free(lg->path);
  if (lg->loops)
    for (int i = 0; i < nloops; i++)
      free(lg->loops[i].cur);
  free(lg->loops);
  free(lg);
  return rc;
}

/* Queues loop i's buffer (unless the writer is too far behind and force
 * is 0: then its lines are dropped) and gives the loop an empty one.
 * force is for the last buffers at close, which the closer waits for
 * anyway: no loop is left to stall. */
static void hand_over(httpd_log *lg, int i, int force) {
  loopbuf *lb = &lg->loops[i];
  logbuf *b = lb->cur;
  pthread_mutex_lock(&lg->mu);
  logbuf *nb = lg->free_list;
  if (lg->queued >= HTTPD_LOG_QUEUE && !force) {
    lg->dropped += b->lines;
    nb = b; /* reused at once */
  } else {
    b->next = NULL;
    *lg->tail = b;
    lg->tail = &b->next;
    lg->queued++;
    if (nb)
      lg->free_list = nb->next;
    pthread_cond_signal(&lg->cond);
  }
  pthread_mutex_unlock(&lg->mu);
  if (!nb && !(nb = coro__malloc(sizeof *nb))) {
    /* No memory for a new buffer: the next line tries again, and is
     * dropped (counted) if it fails too. */
    lb->cur = NULL;
    return;
  }
  nb->n = 0;
  nb->lines = 0;
  lb->cur = nb;
}

void httpd_log_flush(httpd_log *lg, int loop) {
  if (lg->loops[loop].cur && lg->loops[loop].cur->lines > 0)
    hand_over(lg, loop, 0);
}

void httpd_log_request(httpd_log *lg, int loop, const char *addr,
                       const http_request *req, int status, uint64_t sent) {
  loopbuf *lb = &lg->loops[loop];
  if (lb->cur && HTTPD_LOG_BUF - lb->cur->n < LINE_MAX_)
    hand_over(lg, loop, 0);
  logbuf *b = lb->cur;
  if (!b) {
    /* Out of memory earlier: try again for a buffer, else drop. */
    if (!(b = lb->cur = coro__calloc(1, sizeof *b))) {
      pthread_mutex_lock(&lg->mu);
      lg->dropped++;
      pthread_mutex_unlock(&lg->mu);
      return;
    }
  }
  time_t now = time(NULL);
  if (now != lb->sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(lb->stamp, sizeof lb->stamp, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    lb->sec = now;
  }
  /* Written with the engine's plain appenders (crash.c's, bounded by
   * end), not snprintf: a line costs a few copies (about a tenth of three
   * snprintf calls), so that logging takes no larger share of a request
   * than nginx's does. LINE_MAX_ bytes are free: the address
   * (INET6_ADDRSTRLEN), the stamp and the numbers are bounded, the escaped
   * fields cut at FIELD_MAX. */
  char *o = b->data + b->n, *start = o, *end = b->data + HTTPD_LOG_BUF;
  o = coro__put_str(o, end, addr);
  o = coro__put_str(o, end, " - - [");
  o = coro__put_str(o, end, lb->stamp);
  o = coro__put_str(o, end, "] \"");
  /* The request line as nginx's $request: method, target, version. */
  if (req->method_name.n && req->target.n) {
    o += httpd_log_escape(req->method_name.p, req->method_name.n, o, 64);
    *o++ = ' ';
    o += httpd_log_escape(req->target.p, req->target.n, o, FIELD_MAX);
    o = coro__put_str(o, end, " HTTP/1.");
    o = coro__put_u64(o, end, (uint64_t)(req->minor > 0 ? req->minor : 0));
  } else {
    *o++ = '-'; /* a head that did not parse, as nginx's "-" */
  }
  o = coro__put_str(o, end, "\" ");
  o = coro__put_u64(o, end, (uint64_t)(status > 0 ? status : 0));
  *o++ = ' ';
  o = coro__put_u64(o, end, sent);
  size_t n = (size_t)(o - start);
  o = start;
  if (lg->combined) {
    static const char *const names[2] = {"referer", "user-agent"};
    for (int k = 0; k < 2; k++) {
      http_str v = field(req->fields, names[k]);
      o[n++] = ' ';
      o[n++] = '"';
      if (v.p && v.n)
        n += httpd_log_escape(v.p, v.n, o + n, FIELD_MAX);
      else
        o[n++] = '-';
      o[n++] = '"';
    }
  }
  o[n++] = '\n';
  b->n += n;
  b->lines++;
}

/* Writes a buffer; returns the number of its lines lost to a failed
 * write (a full or failed disk: ENOSPC, EIO, EFBIG), counted as dropped
 * so that Stats says what did not reach the file. A line cut by the
 * failure counts as lost. */
static int64_t write_all(httpd_log *lg, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(lg->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int64_t lost = 0;
      for (size_t i = 0; i < n; i++)
        lost += p[i] == '\n';
      return lost;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void *writer_main(void *arg) {
  httpd_log *lg = arg;
  pthread_mutex_lock(&lg->mu);
  for (;;) {
    while (!lg->queue && !lg->stop && !lg->reopen)
      pthread_cond_wait(&lg->cond, &lg->mu);
    logbuf *q = lg->queue;
    lg->queue = NULL;
    lg->tail = &lg->queue;
    int reopen = lg->reopen, stop = lg->stop;
    lg->reopen = 0;
    pthread_mutex_unlock(&lg->mu);
    if (reopen && lg->own_fd) {
      int fd = open(lg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      int err = fd < 0 ? -errno : 0;
      if (fd >= 0) {
        close(lg->fd);
        lg->fd = fd;
      }
      __atomic_store_n(&lg->reopen_err, err, __ATOMIC_RELAXED);
    }
    int64_t lines = 0, lost = 0;
    logbuf *last = NULL;
    int n = 0;
    for (logbuf *b = q; b; last = b, b = b->next, n++) {
      int64_t l = write_all(lg, b->data, b->n);
      lines += b->lines - l;
      lost += l;
    }
    pthread_mutex_lock(&lg->mu);
    lg->written += lines;
    lg->dropped += lost;
    lg->queued -= n;
    if (last) {
      last->next = lg->free_list;
      lg->free_list = q;
    }
    if (stop && !lg->queue)
      break;
  }
  pthread_mutex_unlock(&lg->mu);
  return NULL;
}

int httpd_log_reopen(httpd_log *lg) {
  pthread_mutex_lock(&lg->mu);
  lg->reopen = 1;
  pthread_cond_signal(&lg->cond);
  pthread_mutex_unlock(&lg->mu);
  return __atomic_load_n(&lg->reopen_err, __ATOMIC_RELAXED);
}

static int64_t locked_get(httpd_log *lg, const int64_t *p) {
  pthread_mutex_lock(&lg->mu);
  int64_t v = *p;
  pthread_mutex_unlock(&lg->mu);
  return v;
}

int64_t httpd_log_dropped(httpd_log *lg) { return locked_get(lg, &lg->dropped); }
int64_t httpd_log_written(httpd_log *lg) { return locked_get(lg, &lg->written); }

void httpd_log_close(httpd_log *lg) {
  for (int i = 0; i < lg->nloops; i++)
    if (lg->loops[i].cur && lg->loops[i].cur->lines > 0)
      hand_over(lg, i, 1);
  pthread_mutex_lock(&lg->mu);
  lg->stop = 1;
  pthread_cond_signal(&lg->cond);
  pthread_mutex_unlock(&lg->mu);
  pthread_join(lg->writer, NULL);
  for (logbuf *b = lg->free_list, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  for (int i = 0; i < lg->nloops; i++)
    free(lg->loops[i].cur);
  if (lg->own_fd)
    close(lg->fd);
  pthread_cond_destroy(&lg->cond);
  pthread_mutex_destroy(&lg->mu);
  free(lg->loops);
  free(lg->path);
  free(lg);
}
