/* zone.c - the DNS zone a host belongs to, for the crawl's ZONE scope
 * (the seed's rule: follow a site only when its zone's SOA is the start
 * site's).
 *
 * Contract (crawl.h): crawl_zone_of. Asks the loop's default resolver for
 * the SOA of the host name, then of each parent name in turn (NODATA or
 * NXDOMAIN move up a label), and describes the first SOA found as
 * "owner mname rname serial": two hosts are in the same zone when those
 * strings are equal. Answers go through the resolver's cache, so a site's
 * hosts cost one query each plus one per zone. A numeric address has no
 * zone (-EINVAL).
 */
#include "crawl.h"

#include "coro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int crawl_zone_of(const char *host, char *buf, size_t len, int64_t deadline) {
  const char *name = host;
  if (!*host || strchr(host, ':') || strspn(host, "0123456789.") == strlen(host))
    return -EINVAL;
  for (;;) {
    coro_dns_answer *a = NULL;
    int rc = coro_dns_query(NULL, name, CORO_DNS_SOA, CORO_DNS_NOSEARCH, &a,
                            deadline);
    if (rc > 0) {
      const coro_dns_rr *r = &a->rr[0];
      int n = snprintf(buf, len, "%s %s %s %u", r->name, r->u.soa.mname,
                       r->u.soa.rname, (unsigned)r->u.soa.serial);
      coro_dns_answer_free(a);
      return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
    }
    if (a) coro_dns_answer_free(a);
    if (rc != -ENODATA && rc != -CORO_ENXDOMAIN) return rc;
    const char *dot = strchr(name, '.');
    if (!dot || !dot[1]) return rc; /* no zone above the top label */
    name = dot + 1;
  }
}
