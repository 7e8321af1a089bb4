/* autoindex.c - the HTML listing of a directory without an index.html
 * (coro httpd -autoindex; nginx's autoindex): sub-directories first, then
 * files, each group sorted by name (byte order), with sizes in bytes and
 * modification times in UTC. Each name is HTML-escaped where shown and
 * percent-encoded in its link, which starts with "./" so that a name with
 * a ':' ("a:b") is never read as a URI scheme. */
#include "httpd.h"
#include "http_parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
  size_t name; /* offset of the NUL-terminated name in the names arena */
  int dir;     /* a directory (a symlink is shown as what it is, a link) */
  int link;
  long long size;
  time_t mtime;
} entry;

/* A growing output buffer; err is set once an allocation failed. */
typedef struct out {
  char *p;
  size_t n, cap;
  int err;
} out;

static void grow(out *o, size_t more) {
  if (o->err || o->n + more + 1 <= o->cap)
    return;
  size_t cap = o->cap ? o->cap : 4096;
  while (cap < o->n + more + 1)
    cap *= 2;
  char *p = realloc(o->p, cap);
  if (!p) {
    o->err = -ENOMEM;
    return;
  }
  o->p = p;
  o->cap = cap;
}

static void add(out *o, const char *s, size_t n) {
  grow(o, n);
  if (o->err)
    return;
  memcpy(o->p + o->n, s, n);
  o->n += n;
  o->p[o->n] = '\0';
}

/* Appends a string literal. */
#define ADDS(o, lit) add((o), (lit), sizeof(lit) - 1)

static void addf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(out *o, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k > 0)
    add(o, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* s[0..n) with & < > " ' as character references. */
static void add_html(out *o, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *r = NULL;
    switch (s[i]) {
    case '&': r = "&amp;"; break;
    case '<': r = "&lt;"; break;
    case '>': r = "&gt;"; break;
    case '"': r = "&quot;"; break;
    case '\'': r = "&#39;"; break;
    }
    if (r)
      add(o, r, strlen(r));
    else
      add(o, s + i, 1);
  }
}

/* s[0..n) percent-encoded as a path, then HTML-escaped: a path keeps
 * '&' and '\'' (RFC 3986's sub-delims), which an attribute must not. */
static void add_uri(out *o, const char *s, size_t n) {
  size_t k = http_uri_encode(s, n, 0, NULL, 0);
  char *tmp = malloc(k + 1);
  if (!tmp) {
    o->err = -ENOMEM;
    return;
  }
  http_uri_encode(s, n, 0, tmp, k + 1);
  add_html(o, tmp, k);
  free(tmp);
}

/* Directories first, then by name; names is the arena (qsort_r: loops
 * on other threads may be sorting too). */
static int by_kind_name(const void *a, const void *b, void *names) {
  const entry *x = a, *y = b;
  if (x->dir != y->dir)
    return y->dir - x->dir;
  return strcmp((char *)names + x->name, (char *)names + y->name);
}

int httpd_autoindex(int fd, const char *url_dir, int dotfiles, char **html,
                    size_t *len) {
  *html = NULL;
  *len = 0;
  DIR *d = fdopendir(fd);
  if (!d) {
    int err = -errno;
    close(fd);
    return err;
  }
  out arena = {0}, page = {0};
  entry *es = NULL;
  size_t n = 0, cap = 0;
  int err = 0;
  struct dirent *de;
  while (!err && (errno = 0, de = readdir(d))) {
    const char *nm = de->d_name;
    if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
      continue;
    if (nm[0] == '.' && !dotfiles)
      continue; /* hidden, as their URLs are (404) */
    struct stat st;
    if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue; /* gone since readdir */
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      entry *ne = realloc(es, nc * sizeof *ne);
      if (!ne) {
        err = -ENOMEM;
        break;
      }
      es = ne;
      cap = nc;
    }
    /* A symlink is not followed: where it leads (perhaps outside the
     * root) is the server's business when it is requested, not the
     * listing's. */
    es[n] = (entry){arena.n, S_ISDIR(st.st_mode), S_ISLNK(st.st_mode),
                    (long long)st.st_size, st.st_mtime};
    add(&arena, nm, strlen(nm) + 1);
    err = arena.err;
    n++;
  }
  if (!err && errno)
    err = -errno;
  closedir(d);
  if (!err) {
    if (n > 1)
      qsort_r(es, n, sizeof *es, by_kind_name, arena.p);
    size_t un = strlen(url_dir);
    ADDS(&page, "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                "<title>Index of ");
    add_html(&page, url_dir, un);
    ADDS(&page, "</title></head>\n<body>\n<h1>Index of ");
    add_html(&page, url_dir, un);
    ADDS(&page, "</h1>\n<table>\n<tr><th>Name</th><th>Size</th>"
                "<th>Modified (UTC)</th></tr>\n");
    if (strcmp(url_dir, "/") != 0)
      ADDS(&page, "<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n");
    for (size_t i = 0; i < n; i++) {
      const char *nm = arena.p + es[i].name;
      size_t nn = strlen(nm);
      ADDS(&page, "<tr><td><a href=\"./");
      add_uri(&page, nm, nn);
      if (es[i].dir)
        ADDS(&page, "/\">");
      else
        ADDS(&page, "\">");
      add_html(&page, nm, nn);
      if (es[i].dir)
        ADDS(&page, "/</a></td>");
      else
        ADDS(&page, "</a></td>");
      struct tm tm;
      char when[32];
      gmtime_r(&es[i].mtime, &tm);
      strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
      if (es[i].dir || es[i].link)
        addf(&page, "<td>-</td><td>%s</td></tr>\n", when);
      else
        addf(&page, "<td>%lld</td><td>%s</td></tr>\n", es[i].size, when);
    }
    ADDS(&page, "</table>\n</body></html>\n");
    err = page.err;
  }
  free(es);
  free(arena.p);
  if (err) {
    free(page.p);
    return err;
  }
  *html = page.p;
  *len = page.n;
  return 0;
}
