/* dns_conf.c - the resolver's view of the system configuration:
 * /etc/resolv.conf read as glibc's res_init reads it (resolv.conf(5); Go's
 * net/dnsconfig_unix.go reads it the same way), /etc/hosts (hosts(5)), the
 * list of names to try for a name (ndots and the search list), and the
 * reload check.
 *
 * Contract: one coro__dns_conf holds everything; the parsers are pure (text
 * in, struct out) so tests and the fuzzer drive them without files; only
 * coro__dns_conf_load, coro__dns_conf_services (the first time) and
 * coro__dns_conf_refresh touch the file system, and the refresh looks at
 * the files' metadata (two stat calls, three once services was read) at
 * most once
 * per CORO__DNS_RECHECK_NS of the caller's clock. Garbage never fails a
 * parse: what glibc ignores, we ignore.
 */
#include "dns_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files larger than this are read only this far (a hosts file of
 * ad-blocking lists can hold a few hundred thousand lines; more is a
 * mistake). */
#define FILE_MAX (64u << 20)

/* ---- fields of a line ------------------------------------------------- */

/* A cursor over one line. NUL counts as a separator: glibc sees the line
 * as a C string, and Go's getFields splits on '\r' too, which lets a file
 * with CRLF line ends work. */
typedef struct line {
  const char *p, *end;
} line;

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\0' || c == '\f' ||
         c == '\v';
}

/* The next field of the line into (*f, *n); 0 at the end. */
static int next_field(line *l, const char **f, size_t *n) {
  while (l->p < l->end && is_space(*l->p))
    l->p++;
  if (l->p == l->end)
    return 0;
  *f = l->p;
  while (l->p < l->end && !is_space(*l->p))
    l->p++;
  *n = (size_t)(l->p - *f);
  return 1;
}

static int field_is(const char *f, size_t n, const char *word) {
  return strlen(word) == n && memcmp(f, word, n) == 0;
}

/* The next line of text[*pos..end) into *l (without its '\n'), moving
 * *pos past it; 0 at the end. */
static int next_line(const char **pos, const char *end, line *l) {
  if (*pos >= end)
    return 0;
  const char *nl = memchr(*pos, '\n', (size_t)(end - *pos));
  l->p = *pos;
  l->end = nl ? nl : end;
  *pos = nl ? nl + 1 : end;
  return 1;
}

/* ---- addresses -------------------------------------------------------- */

/* Parse an IPv4 address, or an IPv6 one with an optional %scope (an
 * interface name or number), into *a. Returns 0 or -EINVAL. */
static int parse_addr(const char *f, size_t n, coro__dns_addr *a) {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (n >= sizeof buf)
    return -EINVAL;
  memcpy(buf, f, n);
  buf[n] = '\0';
  memset(a, 0, sizeof *a);
  if (inet_pton(AF_INET, buf, a->addr) == 1) {
    a->family = AF_INET;
    return 0;
  }
  char *pct = strchr(buf, '%');
  if (pct != NULL) {
    *pct++ = '\0';
    if (*pct == '\0')
      return -EINVAL;
    char *e;
    unsigned long v = strtoul(pct, &e, 10);
    if (*e == '\0' && pct[0] >= '0' && pct[0] <= '9' && v <= UINT32_MAX)
      a->scope = (uint32_t)v;
    else if ((a->scope = if_nametoindex(pct)) == 0)
      return -EINVAL;
  }
  if (inet_pton(AF_INET6, buf, a->addr) != 1)
    return -EINVAL;
  a->family = AF_INET6;
  return 0;
}

static void add_server(coro__dns_conf *c, const coro__dns_addr *a) {
  struct sockaddr_storage *ss = &c->servers[c->nservers];
  memset(ss, 0, sizeof *ss);
  if (a->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(53);
    memcpy(&sin->sin_addr, a->addr, 4);
    c->server_len[c->nservers] = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(53);
    memcpy(&sin6->sin6_addr, a->addr, 16);
    sin6->sin6_scope_id = a->scope;
    c->server_len[c->nservers] = sizeof *sin6;
  }
  c->nservers++;
}

/* ---- resolv.conf ------------------------------------------------------ */

/* Add a search suffix if it is a valid name; without its trailing dot. */
static void add_search(coro__dns_conf *c, const char *f, size_t n) {
  char buf[CORO__DNS_NAME_TEXT_MAX + 2];
  uint8_t wire[CORO__DNS_NAME_WIRE_MAX];
  if (c->nsearch == CORO__DNS_MAX_SEARCH || n >= sizeof buf)
    return;
  memcpy(buf, f, n);
  buf[n] = '\0';
  /* "." (the root) adds nothing to a name; invalid names never match. */
  if (strcmp(buf, ".") == 0 || coro__dns_encode_name(buf, wire, sizeof wire) < 0)
    return;
  if (buf[n - 1] == '.')
    buf[--n] = '\0';
  memcpy(c->search[c->nsearch++], buf, n + 1);
}

/* The number after "name:" in an option, clamped to [lo, hi]: leading
 * digits as atoi reads them (none: 0), a minus sign giving lo. */
static int opt_num(const char *f, size_t n, int lo, int hi) {
  long v = 0;
  size_t i = 0;
  int neg = i < n && f[i] == '-';
  if (neg)
    i++;
  for (; i < n && f[i] >= '0' && f[i] <= '9'; i++)
    if (v < 1000)
      v = v * 10 + (f[i] - '0');
  if (neg)
    v = -v;
  return v < lo ? lo : v > hi ? hi : (int)v;
}

static int has_prefix(const char *f, size_t n, const char *pre) {
  size_t k = strlen(pre);
  return n >= k && memcmp(f, pre, k) == 0;
}

static void parse_option(coro__dns_conf *c, const char *f, size_t n) {
  if (has_prefix(f, n, "ndots:"))
    c->ndots = opt_num(f + 6, n - 6, 0, CORO__DNS_MAX_NDOTS);
  else if (has_prefix(f, n, "timeout:"))
    c->timeout_s = opt_num(f + 8, n - 8, 1, CORO__DNS_MAX_TIMEOUT);
  else if (has_prefix(f, n, "attempts:"))
    c->attempts = opt_num(f + 9, n - 9, 1, CORO__DNS_MAX_ATTEMPTS);
  else if (field_is(f, n, "rotate"))
    c->opts |= CORO__DNS_O_ROTATE;
  else if (field_is(f, n, "single-request"))
    c->opts |= CORO__DNS_O_SINGLE_REQUEST;
  else if (field_is(f, n, "single-request-reopen"))
    c->opts |= CORO__DNS_O_SINGLE_REQUEST_REOPEN;
  else if (field_is(f, n, "edns0"))
    c->opts |= CORO__DNS_O_EDNS0;
  else if (field_is(f, n, "use-vc"))
    c->opts |= CORO__DNS_O_USE_VC;
  /* Anything else (inet6, debug, no-aaaa, trust-ad, ...) is ignored. */
}

void coro__dns_conf_parse(coro__dns_conf *c, const char *text, size_t len,
                          const char *hostname) {
  c->nservers = 0;
  c->default_servers = 0;
  c->nsearch = 0;
  c->ndots = 1;
  c->timeout_s = 5;
  c->attempts = 2;
  c->opts = 0;
  int search_set = 0;
  const char *pos = text;
  line l;
  while (next_line(&pos, text + len, &l)) {
    const char *f, *key;
    size_t n, kn;
    if (l.p < l.end && (*l.p == ';' || *l.p == '#'))
      continue;
    if (!next_field(&l, &key, &kn))
      continue;
    if (field_is(key, kn, "nameserver")) {
      coro__dns_addr a;
      /* Only the first field counts: the rest of the line is ignored. */
      if (c->nservers < CORO__DNS_MAX_SERVERS && next_field(&l, &f, &n) &&
          parse_addr(f, n, &a) == 0)
        add_server(c, &a);
    } else if (field_is(key, kn, "domain")) {
      c->nsearch = 0;
      search_set = 1;
      if (next_field(&l, &f, &n))
        add_search(c, f, n);
    } else if (field_is(key, kn, "search")) {
      c->nsearch = 0;
      search_set = 1;
      while (next_field(&l, &f, &n))
        add_search(c, f, n);
    } else if (field_is(key, kn, "options")) {
      while (next_field(&l, &f, &n))
        parse_option(c, f, n);
    }
  }
  if (c->nservers == 0) {
    static const coro__dns_addr v4 = {AF_INET, 0, {127, 0, 0, 1}};
    static const coro__dns_addr v6 = {AF_INET6, 0, {[15] = 1}};
    add_server(c, &v4);
    add_server(c, &v6);
    c->default_servers = 1;
  }
  if (!search_set) {
    char host[256];
    if (hostname == NULL) {
      if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
      host[sizeof host - 1] = '\0';
      hostname = host;
    }
    const char *dot = strchr(hostname, '.');
    if (dot != NULL && dot[1] != '\0')
      add_search(c, dot + 1, strlen(dot + 1));
  }
}

/* ---- hosts ------------------------------------------------------------ */

static void lower_ascii(char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'A' && s[i] <= 'Z')
      s[i] = (char)(s[i] + 32);
}

static int host_cmp(const void *x, const void *y) {
  const coro__dns_host *a = x, *b = y;
  int c = strcmp(a->name, b->name);
  if (c != 0)
    return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void coro__dns_hosts_free(coro__dns_hosts *h) {
  free(h->text);
  free(h->ent);
  memset(h, 0, sizeof *h);
}

/* The Bloom filter's hash of name[0..n), ASCII case folded (FNV-1a,
 * then a final mix so both 32-bit halves are usable as bit indexes). */
static uint64_t bloom_hash(const char *name, size_t n) {
  uint64_t x = 0xcbf29ce484222325u;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c >= 'A' && c <= 'Z')
      c += 'a' - 'A';
    x = (x ^ c) * 0x100000001b3u;
  }
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdu;
  return x ^ (x >> 33);
}

static void bloom_add(coro__dns_hosts *h, uint64_t x) {
  uint32_t b1 = (uint32_t)x & (CORO__DNS_HOSTS_BLOOM_BITS - 1);
  uint32_t b2 = (uint32_t)(x >> 32) & (CORO__DNS_HOSTS_BLOOM_BITS - 1);
  h->bloom[b1 / 64] |= (uint64_t)1 << (b1 % 64);
  h->bloom[b2 / 64] |= (uint64_t)1 << (b2 % 64);
}

int coro__dns_hosts_parse(coro__dns_hosts *h, const char *text, size_t len) {
  memset(h, 0, sizeof *h);
  /* A private copy: the names are cut out of it in place (each field is
   * followed by a separator or the end, where its NUL goes). */
  h->text = malloc(len + 1);
  if (h->text == NULL)
    return -ENOMEM;
  if (len)
    memcpy(h->text, text, len);
  h->text[len] = '\0';
  size_t cap = 0;
  const char *pos = h->text;
  line l;
  while (next_line(&pos, h->text + len, &l)) {
    const char *hash = memchr(l.p, '#', (size_t)(l.end - l.p));
    if (hash != NULL)
      l.end = hash;
    const char *f, *canon = NULL;
    size_t n;
    coro__dns_addr a;
    if (!next_field(&l, &f, &n) || parse_addr(f, n, &a) != 0)
      continue;
    while (next_field(&l, &f, &n)) {
      char *name = (char *)f;
      name[n] = '\0'; /* a separator, or the text's own NUL at the end */
      if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0';
      /* "." and "a.." name nothing a lookup could ask for. */
      if (n > CORO__DNS_NAME_TEXT_MAX || name[n - 1] == '.')
        continue;
      lower_ascii(name, n);
      if (canon == NULL)
        canon = name;
      if (h->n == cap) {
        size_t nc = cap ? 2 * cap : 64;
        coro__dns_host *ne = realloc(h->ent, nc * sizeof *ne);
        if (ne == NULL) {
          coro__dns_hosts_free(h);
          return -ENOMEM;
        }
        h->ent = ne;
        cap = nc;
      }
      h->ent[h->n] = (coro__dns_host){name, canon, (uint32_t)h->n, a};
      h->n++;
    }
  }
  if (h->n > 1)
    qsort(h->ent, h->n, sizeof *h->ent, host_cmp);
  for (size_t i = 0; i < h->n; i++)
    bloom_add(h, bloom_hash(h->ent[i].name, strlen(h->ent[i].name)));
  return 0;
}

int coro__dns_hosts_maybe(const coro__dns_hosts *h, const char *name) {
  if (h->n == 0)
    return 0;
  size_t n = strlen(name);
  if (n > 1 && name[n - 1] == '.')
    n--;
  uint64_t x = bloom_hash(name, n);
  uint32_t b1 = (uint32_t)x & (CORO__DNS_HOSTS_BLOOM_BITS - 1);
  uint32_t b2 = (uint32_t)(x >> 32) & (CORO__DNS_HOSTS_BLOOM_BITS - 1);
  return (h->bloom[b1 / 64] >> (b1 % 64) & 1) &&
         (h->bloom[b2 / 64] >> (b2 % 64) & 1);
}

/* A lookup key: lowercase, without the trailing dot. 0 if impossible. */
static size_t host_key(const char *name, char *key) {
  size_t n = strlen(name);
  if (n > 1 && name[n - 1] == '.')
    n--;
  if (n == 0 || n > CORO__DNS_NAME_TEXT_MAX)
    return 0;
  memcpy(key, name, n);
  key[n] = '\0';
  lower_ascii(key, n);
  return n;
}

int coro__dns_hosts_lookup(const coro__dns_hosts *h, const char *name,
                           int family, coro__dns_addr *out, size_t cap) {
  char key[CORO__DNS_NAME_TEXT_MAX + 1];
  if (h->n == 0 || host_key(name, key) == 0)
    return 0;
  size_t lo = 0, hi = h->n; /* the first entry not below key */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(h->ent[mid].name, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t k = 0;
  for (size_t i = lo; i < h->n && strcmp(h->ent[i].name, key) == 0; i++) {
    if (family != AF_UNSPEC && h->ent[i].addr.family != family)
      continue;
    if (k == cap)
      return -EMSGSIZE;
    out[k++] = h->ent[i].addr;
  }
  return (int)k;
}

const char *coro__dns_hosts_name(const coro__dns_hosts *h,
                                 const coro__dns_addr *a) {
  const coro__dns_host *best = NULL;
  size_t n = a->family == AF_INET ? 4 : 16;
  for (size_t i = 0; i < h->n; i++) {
    const coro__dns_host *e = &h->ent[i];
    if (e->addr.family == a->family && memcmp(e->addr.addr, a->addr, n) == 0 &&
        (best == NULL || e->seq < best->seq))
      best = e;
  }
  return best ? best->canon : NULL;
}

/* ---- services(5) -------------------------------------------------------- */

void coro__dns_services_free(coro__dns_services *s) {
  free(s->text);
  free(s->ent);
  memset(s, 0, sizeof *s);
}

static int service_cmp(const void *a, const void *b) {
  const coro__dns_service *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c == 0)
    c = strcmp(x->proto, y->proto);
  if (c == 0)
    c = (x->name > y->name) - (x->name < y->name);
  return c;
}

static char *svc_field(char **p) {
  char *q = *p;
  while (*q == ' ' || *q == '\t' || *q == '\r')
    q++;
  if (*q == '\0')
    return NULL;
  char *start = q;
  while (*q && *q != ' ' && *q != '\t' && *q != '\r')
    q++;
  if (*q)
    *q++ = '\0';
  *p = q;
  return start;
}

int coro__dns_services_parse(coro__dns_services *s, const char *text,
                             size_t len) {
  memset(s, 0, sizeof *s);
  s->text = malloc(len + 1);
  if (s->text == NULL)
    return -ENOMEM;
  memcpy(s->text, text, len);
  s->text[len] = '\0';
  size_t cap = 0;
  for (char *line = s->text; line != NULL;) {
    char *nl = memchr(line, '\n', (size_t)(s->text + len - line));
    if (nl)
      *nl = '\0';
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *p = line;
    char *name = svc_field(&p);
    char *pp = name ? svc_field(&p) : NULL;
    char *slash = pp ? strchr(pp, '/') : NULL;
    char *end = NULL;
    unsigned long port = slash ? strtoul(pp, &end, 10) : 0;
    if (slash && end == slash && pp != slash && port <= 65535 && slash[1]) {
      *slash = '\0';
      for (char *n = name; n; n = svc_field(&p)) {
        if (s->n == cap) {
          cap = cap ? 2 * cap : 256;
          coro__dns_service *e = realloc(s->ent, cap * sizeof *e);
          if (e == NULL) {
            coro__dns_services_free(s);
            return -ENOMEM;
          }
          s->ent = e;
        }
        s->ent[s->n++] = (coro__dns_service){n, slash + 1, (uint16_t)port};
      }
    }
    line = nl ? nl + 1 : NULL;
  }
  /* Ties (a name listed twice for one protocol) keep file order: the
   * names are cut out of one text in order, so their addresses rise
   * with the line, and service_cmp breaks ties on them; the first line
   * wins, as a scan of the file would find it. */
  if (s->n > 1)
    qsort(s->ent, s->n, sizeof *s->ent, service_cmp);
  return 0;
}

int coro__dns_services_lookup(const coro__dns_services *s, const char *name,
                              const char *proto) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->ent[mid].name, name);
    if (c == 0)
      c = strcmp(s->ent[mid].proto, proto);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < s->n && strcmp(s->ent[lo].name, name) == 0 &&
      strcmp(s->ent[lo].proto, proto) == 0)
    return s->ent[lo].port;
  return -1;
}

/* ---- files and the reload check --------------------------------------- */

static void stamp_of(const struct stat *st, coro__dns_stamp *s) {
  s->exists = 1;
  s->dev = st->st_dev;
  s->ino = st->st_ino;
  s->size = st->st_size;
  s->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int stamp_eq(const coro__dns_stamp *a, const coro__dns_stamp *b) {
  if (a->exists != b->exists)
    return 0;
  return !a->exists || (a->dev == b->dev && a->ino == b->ino &&
                        a->size == b->size && a->mtime_ns == b->mtime_ns);
}

/* Read a whole file (up to FILE_MAX) into a malloc'd *buf, its stamp taken
 * from the open file so that it describes the bytes read. A missing or
 * unreadable file is empty (stamp.exists 0 when it could not be opened).
 * Returns 0 or -ENOMEM. */
static int read_file(const char *path, char **buf, size_t *len,
                     coro__dns_stamp *st) {
  memset(st, 0, sizeof *st);
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  struct stat sb;
  memset(&sb, 0, sizeof sb);
  if (fstat(fd, &sb) == 0)
    stamp_of(&sb, st);
  size_t cap = sb.st_size > 0 && (size_t)sb.st_size < FILE_MAX
                   ? (size_t)sb.st_size + 1
                   : 4096;
  char *b = malloc(cap);
  size_t n = 0;
  while (b != NULL) {
    if (n == cap) {
      if (cap >= FILE_MAX)
        break;
      char *nb = realloc(b, 2 * cap);
      if (nb == NULL) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  if (b == NULL)
    return -ENOMEM;
  *buf = b;
  *len = n;
  return 0;
}

static int load_resolv(coro__dns_conf *c) {
  char *text;
  size_t len;
  coro__dns_stamp st;
  if (read_file(c->resolv_path, &text, &len, &st) < 0)
    return -ENOMEM;
  coro__dns_conf_parse(c, text ? text : "", len, NULL);
  free(text);
  c->resolv_stamp = st;
  return 0;
}

static int load_hosts(coro__dns_conf *c) {
  char *text;
  size_t len;
  coro__dns_stamp st;
  coro__dns_hosts h;
  if (read_file(c->hosts_path, &text, &len, &st) < 0)
    return -ENOMEM;
  int rc = coro__dns_hosts_parse(&h, text ? text : "", len);
  free(text);
  if (rc < 0)
    return rc;
  coro__dns_hosts_free(&c->hosts);
  c->hosts = h;
  c->hosts_stamp = st;
  return 0;
}

static char *path_or(const char *path, const char *env, const char *dflt) {
  if (path == NULL)
    path = getenv(env);
  if (path == NULL || path[0] == '\0')
    path = dflt;
  return strdup(path);
}

int coro__dns_conf_load(coro__dns_conf *c, const char *resolv_path,
                        const char *hosts_path, int64_t now_ns) {
  memset(c, 0, sizeof *c);
  c->resolv_path = path_or(resolv_path, "CORO_RESOLV_CONF", "/etc/resolv.conf");
  c->hosts_path = path_or(hosts_path, "CORO_HOSTS", "/etc/hosts");
  if (c->resolv_path == NULL || c->hosts_path == NULL ||
      load_resolv(c) < 0 || load_hosts(c) < 0) {
    coro__dns_conf_free(c);
    return -ENOMEM;
  }
  c->checked_ns = now_ns;
  c->loaded = 1;
  return 0;
}

static void stat_stamp(const char *path, coro__dns_stamp *s) {
  struct stat sb;
  memset(s, 0, sizeof *s);
  if (stat(path, &sb) == 0)
    stamp_of(&sb, s);
}

static int load_services(coro__dns_conf *c) {
  char *text;
  size_t len;
  coro__dns_stamp st;
  coro__dns_services sv;
  if (read_file(c->services_path, &text, &len, &st) < 0)
    return -ENOMEM;
  int rc = coro__dns_services_parse(&sv, text ? text : "", len);
  free(text);
  if (rc < 0)
    return rc;
  coro__dns_services_free(&c->services);
  c->services = sv;
  c->services_stamp = st;
  c->services_loaded = 1;
  return 0;
}

const coro__dns_services *coro__dns_conf_services(coro__dns_conf *c) {
  if (c->services_loaded)
    return &c->services;
  if (c->services_path == NULL)
    c->services_path = path_or(NULL, "CORO_SERVICES", "/etc/services");
  if (c->services_path == NULL || load_services(c) < 0)
    return NULL;
  return &c->services;
}

int coro__dns_conf_refresh(coro__dns_conf *c, int64_t now_ns) {
  if (!c->loaded || now_ns - c->checked_ns < CORO__DNS_RECHECK_NS)
    return 0;
  c->checked_ns = now_ns;
  coro__dns_stamp rs, hs;
  stat_stamp(c->resolv_path, &rs);
  stat_stamp(c->hosts_path, &hs);
  int changed = 0;
  /* A failed re-read keeps the old stamp, so the next check retries. */
  if (!stamp_eq(&rs, &c->resolv_stamp)) {
    if (load_resolv(c) < 0)
      return -ENOMEM;
    changed = 1;
  }
  if (!stamp_eq(&hs, &c->hosts_stamp)) {
    if (load_hosts(c) < 0)
      return -ENOMEM;
    changed = 1;
  }
  if (c->services_loaded) {
    /* Not a change of answers: the cache stays. */
    coro__dns_stamp ss;
    stat_stamp(c->services_path, &ss);
    if (!stamp_eq(&ss, &c->services_stamp) && load_services(c) < 0)
      return -ENOMEM;
  }
  return changed;
}

void coro__dns_conf_free(coro__dns_conf *c) {
  coro__dns_hosts_free(&c->hosts);
  coro__dns_services_free(&c->services);
  free(c->services_path);
  free(c->resolv_path);
  free(c->hosts_path);
  memset(c, 0, sizeof *c);
}

/* ---- names to try ----------------------------------------------------- */

int coro__dns_is_localhost(const char *name) {
  char key[CORO__DNS_NAME_TEXT_MAX + 1];
  size_t n = host_key(name, key);
  static const char lh[] = "localhost";
  size_t k = sizeof lh - 1;
  if (n < k || memcmp(key + n - k, lh, k) != 0)
    return 0;
  return n == k || key[n - k - 1] == '.';
}

/* Append name[0..n) (+ "." suffix) to out[*k] unless it is too long.
 * Returns *k, or -EMSGSIZE when out is full. */
static int add_candidate(char (*out)[CORO__DNS_NAME_TEXT_MAX + 1], size_t cap,
                         size_t *k, const char *name, size_t n,
                         const char *suffix) {
  size_t sn = suffix ? strlen(suffix) : 0;
  size_t total = n + (suffix ? sn + 1 : 0);
  if (total > CORO__DNS_NAME_TEXT_MAX)
    return (int)*k; /* skipped, as Go and glibc skip it */
  if (*k == cap)
    return -EMSGSIZE;
  memcpy(out[*k], name, n);
  if (suffix) {
    out[*k][n] = '.';
    memcpy(out[*k] + n + 1, suffix, sn);
  }
  out[*k][total] = '\0';
  return (int)++*k;
}

int coro__dns_candidates(const coro__dns_conf *c, const char *name,
                         char (*out)[CORO__DNS_NAME_TEXT_MAX + 1], size_t cap) {
  uint8_t wire[CORO__DNS_NAME_WIRE_MAX];
  int rc = coro__dns_encode_name(name, wire, sizeof wire);
  if (rc < 0)
    return rc;
  if (coro__dns_is_localhost(name))
    return 0;
  size_t n = strlen(name);
  int rooted = name[n - 1] == '.';
  if (rooted && n > 1)
    n--;
  size_t k = 0;
  if (rooted)
    return add_candidate(out, cap, &k, name, n, NULL);
  int dots = 0;
  for (size_t i = 0; i < n; i++)
    dots += name[i] == '.';
  if (dots >= c->ndots && (rc = add_candidate(out, cap, &k, name, n, NULL)) < 0)
    return rc;
  for (int i = 0; i < c->nsearch; i++)
    if ((rc = add_candidate(out, cap, &k, name, n, c->search[i])) < 0)
      return rc;
  if (dots < c->ndots && (rc = add_candidate(out, cap, &k, name, n, NULL)) < 0)
    return rc;
  return (int)k;
}
