/* hook_dns.c - getaddrinfo, freeaddrinfo, gethostbyname, gethostbyname2,
 * gethostbyname_r, gethostbyname2_r: name lookups that wait in the loop.
 * Contract in hook.h.
 *
 * In a hooked coroutine a lookup is the engine's resolver's
 * (coro_getaddrinfo with the loop's default resolver: coro_loop_opts.
 * resolver, else $CORO_RESOLV_CONF, $CORO_HOSTS and the system's files):
 * the coroutine waits for the answer and the loop runs the others. It
 * answers as glibc's "hosts: files dns" does (coro.h); other NSS sources
 * (mdns, ldap, systemd's myhostname) are not consulted.
 *
 * Elsewhere (other threads, the loop's own stack, hooks off) a dynamic
 * program gets libc's own functions (dlsym RTLD_NEXT), exactly as without
 * the hooks. A static program has no libc lookup to reach (dlsym finds
 * nothing, and glibc's static getaddrinfo would need the shared NSS
 * modules anyway), so the engine's resolver answers there too, in a
 * coroutine of a private loop on a thread of its own, made at the first
 * such call; the caller's thread blocks for the answer, as with libc.
 *
 * freeaddrinfo frees either kind of list: the engine's nodes carry a tag
 * (a word between the node and its socket address, where glibc's have
 * the address itself, so a glibc node is never read past its address);
 * any other list goes to libc's freeaddrinfo (in a static program, which
 * has only the engine's lists, it is freed as glibc frees).
 *
 * Flags as glibc takes them: AI_V4MAPPED only with AF_INET6, giving the
 * IPv4 addresses as ::ffff:a.b.c.d when there is no IPv6 one (with
 * AI_ALL: always, after the IPv6 ones), ignored with other families;
 * AI_IDN and AI_CANONIDN are accepted and change nothing (an ASCII name
 * is its own IDN form; a non-ASCII name is not found); any other unknown
 * flag is EAI_BADFLAGS. No hints: AI_ADDRCONFIG, as glibc. Errors:
 * EAI_NONAME (no such name, a name that is not valid), EAI_NODATA (no
 * address of the family), EAI_AGAIN (timeout, server failure or
 * refusal), EAI_FAIL (a malformed answer), EAI_SERVICE, EAI_FAMILY,
 * EAI_SOCKTYPE, EAI_BADFLAGS, EAI_MEMORY, and EAI_SYSTEM with errno for
 * the rest (ECANCELED: the coroutine was cancelled in the lookup).
 *
 * The hostent calls: h_name is the canonical name (the CNAME chain's end,
 * the hosts line's first name), h_aliases holds the name asked when it
 * differs. gethostbyname and gethostbyname2 fill a buffer of the calling
 * thread (glibc's is one for the whole process), valid until the thread's
 * next call: a coroutine reads it before it next waits. The _r calls
 * return 0, or ENOENT (no such name or address: *h_errnop HOST_NOT_FOUND
 * or NO_DATA), EAGAIN (TRY_AGAIN), ERANGE (buffer too small), or errno's
 * value with *h_errnop NETDB_INTERNAL (ECANCELED, ENOMEM, EAFNOSUPPORT).
 */
#include "hook.h"

#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- where the lookups went (hook.h) ----------------------------------- */

static _Atomic uint64_t counts[3];
_Atomic int coro__hooks_dns_force_thread;
const struct coro_resolver_opts *coro__hooks_dns_resolver;

void coro__hooks_dns_counts(uint64_t out[3]) {
  for (int i = 0; i < 3; i++)
    out[i] = atomic_load(&counts[i]);
}

/* libc's function name, or NULL (a static program; or the tests force the
 * private thread). */
static void *libc_fn(const char *name) {
  return atomic_load(&coro__hooks_dns_force_thread) ? NULL
                                                     : dlsym(RTLD_NEXT, name);
}

/* ---- the private loop (static programs, outside hooked coroutines) ----- */

static pthread_mutex_t priv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t priv_cv = PTHREAD_COND_INITIALIZER;
static coro_loop *priv_loop;
static pid_t priv_pid;  /* the process that made it (a fork's child has
                           no such thread: it makes its own) */
static int priv_state;  /* 1 starting, else 0 or -errno of the start */
static coro_loop *priv_stale; /* a fork's parent's, kept reachable (no
                                 leak report): its memory is the child's */

static void *priv_main(void *arg) {
  (void)arg;
  coro_loop *l = NULL;
  coro_loop_opts o = {.name = "coro-hooks-dns",
                     .resolver = coro__hooks_dns_resolver};
  int rc = coro_loop_new(&l, &o);
  pthread_mutex_lock(&priv_mu);
  priv_loop = rc == 0 ? l : NULL;
  priv_state = rc;
  pthread_cond_broadcast(&priv_cv);
  pthread_mutex_unlock(&priv_mu);
  if (rc == 0) /* forever: the process's lookups may come at any time */
    coro_loop_run(l, CORO_RUN_UNTIL_STOPPED);
  return NULL;
}

/* The private loop, started on first use: NULL with *err on failure. */
static coro_loop *priv_get(int *err) {
  pthread_mutex_lock(&priv_mu);
  if (priv_loop && priv_pid != getpid()) {
    priv_stale = priv_loop; /* the parent's, gone with its thread */
    priv_loop = NULL;
  }
  if (!priv_loop && priv_state != 1) {
    pthread_attr_t a;
    pthread_t th;
    sigset_t all, old;
    /* The thread takes no signals: they are the application's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_attr_init(&a);
    if (rc == 0) {
      pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
      rc = pthread_create(&th, &a, priv_main, NULL);
      pthread_attr_destroy(&a);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    priv_state = rc ? -rc : 1;
    priv_pid = getpid();
  }
  while (priv_state == 1)
    pthread_cond_wait(&priv_cv, &priv_mu);
  coro_loop *l = priv_loop;
  *err = priv_state;
  if (!l)
    priv_state = 0; /* the next call tries again */
  pthread_mutex_unlock(&priv_mu);
  return l;
}

typedef struct job {
  const char *host, *serv;
  const struct addrinfo *hints;
  struct addrinfo *res;
  int rc; /* coro_getaddrinfo's */
} job;

static void *job_co(void *arg) {
  job *j = arg;
  j->rc = coro_getaddrinfo(NULL, j->host, j->serv, j->hints, &j->res, -1);
  return NULL;
}

/* coro_getaddrinfo where the hooks say: here in the hooked coroutine, or
 * in the private loop. */
static int engine_lookup(const char *host, const char *serv,
                         const struct addrinfo *hints, struct addrinfo **res) {
  if (coro__hooks_on()) {
    atomic_fetch_add(&counts[CORO__DNS_IN_LOOP], 1);
    return coro_getaddrinfo(NULL, host, serv, hints, res, -1);
  }
  atomic_fetch_add(&counts[CORO__DNS_THREAD], 1);
  int err;
  coro_loop *l = priv_get(&err);
  if (!l)
    return err;
  job j = {host, serv, hints, NULL, 0};
  coro_remote *r;
  err = coro_remote_spawn(l, job_co, &j, NULL, NULL, NULL, &r);
  if (err < 0)
    return err;
  err = coro_remote_wait(r, -1, NULL);
  coro_remote_release(r);
  *res = j.res;
  return err < 0 ? err : j.rc;
}

/* ---- tagged lists ------------------------------------------------------ */

#define GAI_TAG UINT64_C(0x636f726f2d676169) /* "coro-gai" */

typedef struct tagged {
  struct addrinfo ai;
  uint64_t tag;
  union {
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } sa;
} tagged;

static int is_tagged(const struct addrinfo *ai) {
  const tagged *t = (const tagged *)ai;
  /* ai_addr first: only a node of ours has its address there. */
  return (const void *)ai->ai_addr == (const void *)&t->sa && t->tag == GAI_TAG;
}

static void free_tagged(struct addrinfo *ai) {
  while (ai) {
    struct addrinfo *next = ai->ai_next;
    free(ai->ai_canonname);
    free(ai);
    ai = next;
  }
}

/* The engine's list src as tagged nodes appended at **tail, IPv4 ones as
 * v4-mapped IPv6 when map; src is freed. 0 or -ENOMEM. */
static int retag(struct addrinfo *src, int map, struct addrinfo ***tail) {
  int rc = 0;
  for (struct addrinfo *s = src; s && rc == 0; s = s->ai_next) {
    tagged *t = calloc(1, sizeof *t);
    if (!t) {
      rc = -ENOMEM;
      break;
    }
    t->ai = *s;
    t->ai.ai_next = NULL;
    s->ai_canonname = NULL; /* moved */
    t->tag = GAI_TAG;
    t->ai.ai_addr = (struct sockaddr *)&t->sa;
    if (map && s->ai_family == AF_INET) {
      const struct sockaddr_in *in = (const struct sockaddr_in *)s->ai_addr;
      t->sa.in6.sin6_family = AF_INET6;
      t->sa.in6.sin6_port = in->sin_port;
      t->sa.in6.sin6_addr.s6_addr[10] = 0xff;
      t->sa.in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&t->sa.in6.sin6_addr.s6_addr[12], &in->sin_addr, 4);
      t->ai.ai_family = AF_INET6;
      t->ai.ai_addrlen = sizeof t->sa.in6;
    } else {
      memcpy(&t->sa, s->ai_addr, s->ai_addrlen);
    }
    **tail = &t->ai;
    *tail = &t->ai.ai_next;
  }
  coro_freeaddrinfo(src);
  return rc;
}

/* ---- getaddrinfo --------------------------------------------------------- */

/* The EAI_ code of a negative return of coro_getaddrinfo (errno set for
 * EAI_SYSTEM). */
static int eai_of(int rc) {
  switch (rc) {
  case 0:
    return 0;
  case -CORO_ENXDOMAIN:
  case -EINVAL:
  case -ENAMETOOLONG:
    return EAI_NONAME;
  case -ENODATA:
    return EAI_NODATA;
  case -ETIMEDOUT:
  case -CORO_ESERVFAIL:
  case -CORO_EREFUSED:
    return EAI_AGAIN;
  case -EBADMSG:
    return EAI_FAIL;
  case -ESRCH:
    return EAI_SERVICE;
  case -EAFNOSUPPORT:
    return EAI_FAMILY;
  case -ENOMEM:
    return EAI_MEMORY;
  default:
    errno = -rc;
    return EAI_SYSTEM;
  }
}

#define GLIBC_FLAGS                                                            \
  (AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG | AI_V4MAPPED |  \
   AI_NUMERICSERV | AI_ALL | AI_IDN | AI_CANONIDN)
#define ENGINE_FLAGS                                                           \
  (AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV | AI_ADDRCONFIG)

/* getaddrinfo by the engine's resolver (see the top comment). */
static int engine_gai(const char *host, const char *serv,
                      const struct addrinfo *hints, struct addrinfo **res) {
  struct addrinfo h = {.ai_family = AF_UNSPEC, .ai_flags = AI_ADDRCONFIG};
  if (hints)
    h = (struct addrinfo){.ai_flags = hints->ai_flags,
                          .ai_family = hints->ai_family,
                          .ai_socktype = hints->ai_socktype,
                          .ai_protocol = hints->ai_protocol};
  if ((h.ai_flags & ~GLIBC_FLAGS) || ((h.ai_flags & AI_CANONNAME) && !host))
    return EAI_BADFLAGS;
  if (!host && !serv)
    return EAI_NONAME;
  if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET &&
      h.ai_family != AF_INET6)
    return EAI_FAMILY;
  if (h.ai_socktype != 0 && h.ai_socktype != SOCK_STREAM &&
      h.ai_socktype != SOCK_DGRAM && h.ai_socktype != SOCK_RAW)
    return EAI_SOCKTYPE;
  int map = h.ai_family == AF_INET6 && (h.ai_flags & AI_V4MAPPED);
  int all = map && (h.ai_flags & AI_ALL);
  h.ai_flags &= ENGINE_FLAGS;
  struct addrinfo *v6 = NULL, *v4 = NULL;
  int rc = engine_lookup(host, serv, &h, &v6);
  if (map && (rc == -ENODATA || (all && rc == 0))) {
    struct addrinfo h4 = h;
    h4.ai_family = AF_INET;
    if (rc == 0)
      h4.ai_flags &= ~AI_CANONNAME; /* one name, on the first node */
    int rc4 = engine_lookup(host, serv, &h4, &v4);
    if (rc4 == 0 || (rc4 != -ENODATA && rc != 0))
      rc = rc4; /* (an error of the IPv4 try after an IPv6 answer is
                   dropped: the IPv6 answer stands) */
  }
  struct addrinfo *head = NULL, **tail = &head;
  if (rc == 0)
    rc = retag(v6, 0, &tail);
  else
    coro_freeaddrinfo(v6);
  if (rc == 0)
    rc = retag(v4, 1, &tail);
  else
    coro_freeaddrinfo(v4);
  if (rc == 0 && !head)
    rc = -ENODATA; /* (none of the IPv4 answers were wanted) */
  if (rc < 0) {
    free_tagged(head);
    return eai_of(rc);
  }
  *res = head;
  return 0;
}

typedef int gai_fn(const char *, const char *, const struct addrinfo *,
                   struct addrinfo **);
typedef void freeai_fn(struct addrinfo *);

int getaddrinfo(const char *host, const char *serv,
                const struct addrinfo *hints, struct addrinfo **res) {
  if (!coro__hooks_on()) {
    gai_fn *libc = (gai_fn *)libc_fn("getaddrinfo");
    if (libc) {
      atomic_fetch_add(&counts[CORO__DNS_LIBC], 1);
      return libc(host, serv, hints, res);
    }
  }
  int saved = errno, rc = engine_gai(host, serv, hints, res);
  if (rc != EAI_SYSTEM)
    errno = saved;
  return rc;
}

void freeaddrinfo(struct addrinfo *ai) {
  if (!ai)
    return;
  if (is_tagged(ai)) {
    free_tagged(ai);
    return;
  }
  freeai_fn *libc = (freeai_fn *)dlsym(RTLD_NEXT, "freeaddrinfo");
  if (libc)
    libc(ai);
  else
    free_tagged(ai); /* glibc's layout: node and address in one block */
}

/* ---- the hostent calls ---------------------------------------------------- */

/* Look name up by the engine for a hostent of family af: 0 with *list
 * (coro_freeaddrinfo's), else the h_errno value (errno set for
 * NETDB_INTERNAL). */
static int host_lookup(const char *name, int af, struct addrinfo **list) {
  if (af != AF_INET && af != AF_INET6) {
    errno = EAFNOSUPPORT;
    return NETDB_INTERNAL;
  }
  struct addrinfo h = {.ai_family = af, .ai_socktype = SOCK_STREAM,
                       .ai_flags = AI_CANONNAME};
  *list = NULL;
  int rc = name ? engine_lookup(name, NULL, &h, list) : -CORO_ENXDOMAIN;
  switch (eai_of(rc)) {
  case 0:
    return 0;
  case EAI_NONAME:
    return HOST_NOT_FOUND;
  case EAI_NODATA:
    return NO_DATA;
  case EAI_AGAIN:
    return TRY_AGAIN;
  case EAI_FAIL:
    return NO_RECOVERY;
  case EAI_MEMORY:
    errno = ENOMEM;
    return NETDB_INTERNAL;
  default: /* EAI_SYSTEM: errno set */
    return NETDB_INTERNAL;
  }
}

/* list as a hostent of family af in buf[0..len): 0 or ERANGE. */
static int pack(const struct addrinfo *list, const char *name, int af,
                struct hostent *he, char *buf, size_t len) {
  size_t alen = af == AF_INET ? 4 : 16, n = 0;
  for (const struct addrinfo *p = list; p; p = p->ai_next)
    n += p->ai_family == af;
  const char *canon = list && list->ai_canonname && *list->ai_canonname
                          ? list->ai_canonname
                          : name;
  int alias = strcmp(canon, name) != 0;
  size_t pad = (sizeof(char *) - (uintptr_t)buf % sizeof(char *)) % sizeof(char *);
  size_t need = pad + (2 + n + 1) * sizeof(char *) + n * alen + strlen(canon) +
                1 + (alias ? strlen(name) + 1 : 0);
  if (need > len)
    return ERANGE;
  char **aliases = (char **)(void *)(buf + pad), **addrs = aliases + 2;
  char *data = (char *)(addrs + n + 1);
  size_t i = 0;
  for (const struct addrinfo *p = list; p; p = p->ai_next) {
    if (p->ai_family != af)
      continue;
    const void *a = af == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)p->ai_addr)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
    memcpy(data, a, alen);
    addrs[i++] = data;
    data += alen;
  }
  addrs[i] = NULL;
  he->h_name = strcpy(data, canon);
  data += strlen(canon) + 1;
  aliases[0] = alias ? strcpy(data, name) : NULL;
  aliases[1] = NULL;
  he->h_aliases = aliases;
  he->h_addrtype = af;
  he->h_length = (int)alen;
  he->h_addr_list = addrs;
  return 0;
}

/* What a _r call returns for an h_errno value. */
static int r_of(int herr) {
  return herr == TRY_AGAIN        ? EAGAIN
         : herr == NETDB_INTERNAL ? errno
                                  : ENOENT;
}

typedef int ghbn2r_fn(const char *, int, struct hostent *, char *, size_t,
                      struct hostent **, int *);

int gethostbyname2_r(const char *name, int af, struct hostent *he, char *buf,
                     size_t len, struct hostent **result, int *herrp) {
  if (!coro__hooks_on()) {
    ghbn2r_fn *libc = (ghbn2r_fn *)libc_fn("gethostbyname2_r");
    if (libc) {
      atomic_fetch_add(&counts[CORO__DNS_LIBC], 1);
      return libc(name, af, he, buf, len, result, herrp);
    }
  }
  struct addrinfo *list;
  *result = NULL;
  int herr = host_lookup(name, af, &list);
  if (herr) {
    *herrp = herr;
    return r_of(herr);
  }
  int rc = pack(list, name, af, he, buf, len);
  coro_freeaddrinfo(list);
  if (rc) {
    *herrp = NETDB_INTERNAL;
    errno = rc;
    return rc;
  }
  *herrp = NETDB_SUCCESS;
  *result = he;
  return 0;
}

int gethostbyname_r(const char *name, struct hostent *he, char *buf,
                    size_t len, struct hostent **result, int *herrp) {
  return gethostbyname2_r(name, AF_INET, he, buf, len, result, herrp);
}

/* The calling thread's buffer for gethostbyname and gethostbyname2. */
typedef struct host_buf {
  struct hostent he;
  size_t len;
  char buf[];
} host_buf;

static pthread_key_t hb_key;
static pthread_once_t hb_once = PTHREAD_ONCE_INIT;
static void hb_init(void) { (void)pthread_key_create(&hb_key, free); }

typedef struct hostent *ghbn2_fn(const char *, int);

struct hostent *gethostbyname2(const char *name, int af) {
  if (!coro__hooks_on()) {
    ghbn2_fn *libc = (ghbn2_fn *)libc_fn("gethostbyname2");
    if (libc) {
      atomic_fetch_add(&counts[CORO__DNS_LIBC], 1);
      return libc(name, af);
    }
  }
  struct addrinfo *list;
  int herr = host_lookup(name, af, &list);
  if (herr) {
    h_errno = herr;
    return NULL;
  }
  /* No wait from here on: the buffer is this thread's. */
  pthread_once(&hb_once, hb_init);
  host_buf *hb = pthread_getspecific(hb_key);
  int rc = ERANGE;
  while (rc == ERANGE) {
    if (hb && (rc = pack(list, name, af, &hb->he, hb->buf, hb->len)) != ERANGE)
      break;
    size_t len = hb ? hb->len * 2 : 1024;
    host_buf *n = realloc(hb, sizeof *hb + len);
    if (!n) {
      rc = ENOMEM;
      break;
    }
    n->len = len;
    hb = n;
    (void)pthread_setspecific(hb_key, hb);
  }
  coro_freeaddrinfo(list);
  if (rc) {
    errno = rc;
    h_errno = NETDB_INTERNAL;
    return NULL;
  }
  return &hb->he;
}

struct hostent *gethostbyname(const char *name) {
  if (!coro__hooks_on()) {
    struct hostent *(*libc)(const char *) =
        (struct hostent * (*)(const char *)) libc_fn("gethostbyname");
    if (libc) {
      atomic_fetch_add(&counts[CORO__DNS_LIBC], 1);
      return libc(name);
    }
  }
  return gethostbyname2(name, AF_INET);
}
