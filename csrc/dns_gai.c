/* dns_gai.c - coro_getaddrinfo: getaddrinfo(3)'s shape over coro_lookup_ip.
 *
 * Contract (coro.h): the list is allocated as glibc allocates it, each
 * node and its socket address in one malloc and ai_canonname apart, so
 * glibc's freeaddrinfo frees it as well as coro_freeaddrinfo. Errors are
 * the resolver's negative codes, never EAI_*. As glibc: socktype 0 gives
 * one node per address for each of SOCK_STREAM, SOCK_DGRAM and SOCK_RAW
 * (those a named service exists for, when there is one); the wildcard or
 * loopback addresses for a NULL host.
 */
#include "resolver_internal.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Addresses asked of coro_lookup_ip at most (glibc has no bound; a name
 * with more records than this is cut). */
#define GAI_MAX_ADDRS 256

typedef struct sock_kind {
  int socktype, protocol;
  const char *proto; /* for /etc/services */
} sock_kind;

static const sock_kind kinds[] = {
    {SOCK_STREAM, IPPROTO_TCP, "tcp"},
    {SOCK_DGRAM, IPPROTO_UDP, "udp"},
    {SOCK_RAW, 0, NULL},
};

/* The port of service for kind k (network order) into *port: 0, 1 when
 * the kind has no such service (skip it), -ESRCH when no kind has it,
 * -EINVAL for a name with AI_NUMERICSERV. */
static int service_port(coro_resolver *r, const char *service, int flags,
                        const sock_kind *k, uint16_t *port) {
  *port = 0;
  if (!service)
    return 0;
  char *end;
  unsigned long v = strtoul(service, &end, 10);
  if (*service && *end == '\0') {
    if (v > 65535)
      return -ESRCH;
    *port = htons((uint16_t)v);
    return 0;
  }
  if (flags & AI_NUMERICSERV)
    return -EINVAL;
  if (!k->proto)
    return 1; /* a named service has no raw port */
  /* Our own services(5) table rather than getservbyname_r: glibc's goes
   * through NSS, which a static binary cannot load (the linker warns).
   * It is read once per resolver and re-read when the file changes (the
   * resolver's 5 s check), not per call. $CORO_SERVICES names another
   * file (tests). */
  const coro__dns_services *sv = coro__dns_conf_services(&r->conf);
  if (!sv)
    return -ENOMEM;
  int p = coro__dns_services_lookup(sv, service, k->proto);
  if (p < 0)
    return 1;
  *port = htons((uint16_t)p);
  return 0;
}

static struct addrinfo *node(const coro_ip *ip, const sock_kind *k,
                             uint16_t port) {
  size_t alen = ip->family == AF_INET ? sizeof(struct sockaddr_in)
                                      : sizeof(struct sockaddr_in6);
  struct addrinfo *ai = coro__calloc(1, sizeof *ai + alen);
  if (!ai)
    return NULL;
  ai->ai_family = ip->family;
  ai->ai_socktype = k->socktype;
  ai->ai_protocol = k->protocol;
  ai->ai_addrlen = (socklen_t)alen;
  ai->ai_addr = (struct sockaddr *)(ai + 1);
  if (ip->family == AF_INET) {
    struct sockaddr_in *s = (struct sockaddr_in *)ai->ai_addr;
    s->sin_family = AF_INET;
    s->sin_port = port;
    memcpy(&s->sin_addr, ip->addr, 4);
  } else {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ai->ai_addr;
    s->sin6_family = AF_INET6;
    s->sin6_port = port;
    s->sin6_scope_id = ip->scope_id;
    memcpy(&s->sin6_addr, ip->addr, 16);
  }
  return ai;
}

void coro_freeaddrinfo(struct addrinfo *res) {
  while (res) {
    struct addrinfo *next = res->ai_next;
    free(res->ai_canonname);
    free(res);
    res = next;
  }
}

int coro_getaddrinfo(coro_resolver *r, const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res,
                     int64_t deadline) {
  if (!res)
    return -EINVAL;
  *res = NULL;
  struct addrinfo h = {0};
  if (hints)
    h = *hints;
  if (!host && !service)
    return -EINVAL;
  if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET &&
      h.ai_family != AF_INET6)
    return -EAFNOSUPPORT;
  if (h.ai_flags & ~(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST |
                     AI_NUMERICSERV | AI_ADDRCONFIG))
    return -EINVAL;
  int err = 0;
  r = coro__resolver_get(r, &err);
  if (!r)
    return err;
  coro__resolver_refresh(r, coro__resolver_now(r));
  /* The ports first: an unknown service fails before any query. */
  uint16_t ports[3];
  int use[3] = {0}, any = 0;
  for (int i = 0; i < 3; i++) {
    if (h.ai_socktype && kinds[i].socktype != h.ai_socktype)
      continue;
    if (h.ai_protocol && kinds[i].protocol != h.ai_protocol)
      continue;
    int rc = service_port(r, service, h.ai_flags, &kinds[i], &ports[i]);
    if (rc < 0)
      return rc;
    use[i] = rc == 0;
    any |= use[i];
  }
  if (!any)
    return service ? -ESRCH : -EINVAL;
  int family = h.ai_family;
  if ((h.ai_flags & AI_ADDRCONFIG) && family == AF_UNSPEC && host &&
      !coro__resolver_v6_route(r, coro__resolver_now(r)))
    family = AF_INET; /* no IPv6 here: do not ask for it */
  coro_ip *ips = coro__malloc(GAI_MAX_ADDRS * sizeof *ips);
  char *canon = NULL;
  if ((h.ai_flags & AI_CANONNAME) && host)
    canon = coro__malloc(CORO__DNS_NAME_BUF);
  if (!ips || ((h.ai_flags & AI_CANONNAME) && host && !canon)) {
    free(ips);
    free(canon);
    return -ENOMEM;
  }
  int n;
  if (!host) {
    /* The wildcard (AI_PASSIVE) or loopback, IPv6 first as glibc. */
    int passive = (h.ai_flags & AI_PASSIVE) != 0;
    n = 0;
    if (family != AF_INET)
      ips[n++] = (coro_ip){.family = AF_INET6, .addr = {[15] = !passive}};
    if (family != AF_INET6)
      ips[n++] = (coro_ip){.family = AF_INET,
                           .addr = {passive ? 0 : 127, 0, 0, !passive}};
  } else if (h.ai_flags & AI_NUMERICHOST) {
    n = coro__lookup_ip_numeric(host, family, ips);
    if (canon)
      snprintf(canon, CORO__DNS_NAME_BUF, "%s", host);
  } else {
    n = coro__lookup_ip(r, host, family, ips, GAI_MAX_ADDRS, deadline, canon,
                        NULL, NULL);
  }
  struct addrinfo *head = NULL, **tail = &head;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 3; k++) {
      if (!use[k])
        continue;
      struct addrinfo *ai = node(&ips[i], &kinds[k], ports[k]);
      if (!ai) {
        n = -ENOMEM;
        break;
      }
      *tail = ai;
      tail = &ai->ai_next;
    }
  free(ips);
  if (n < 0) {
    coro_freeaddrinfo(head);
    free(canon);
    return n;
  }
  if (canon && head) {
    /* Its own allocation, exactly sized, for glibc's free. */
    head->ai_canonname = coro__malloc(strlen(canon) + 1);
    if (!head->ai_canonname) {
      coro_freeaddrinfo(head);
      free(canon);
      return -ENOMEM;
    }
    strcpy(head->ai_canonname, canon);
  }
  free(canon);
  *res = head;
  return 0;
}
