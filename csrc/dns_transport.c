/* dns_transport.c - asking the servers one question: UDP on the pooled
 * connected sockets of dns_udp.c (a random source port per socket, reused
 * for a bounded number of queries) and a random id per try, TCP when the
 * answer is truncated or options use-vc say so, EDNS0 unless a server
 * rejects it, the timeout and attempts of resolv.conf, failover in order
 * (or rotated), and the caller's deadline over everything.
 *
 * Contract (resolver_internal.h, coro__dns_exchange): an answer counts only
 * when it comes from the address and port asked (the kernel checks that
 * for a connected socket), carries the id sent and repeats the question
 * (RFC 5452); anything else is counted as ignored and the wait goes on
 * until the try's own deadline. A server that refuses the datagram
 * (ECONNREFUSED: nothing listens) is left for the next one at once. TCP
 * sockets are closed before return, whatever happens (cancellation
 * included); UDP ones stay in the pool.
 */
#include "resolver_internal.h"

#include <netinet/in.h>
#include <string.h>

/* The decode arena grows up to this for one message (names expanded from
 * compression pointers are the worst case: 4 KiB of text per name). */
#define ARENA_MAX (64u << 20)

void coro__dns_reply_free(coro__dns_reply *rep) {
  free(rep->msg);
  free(rep->arena);
  rep->msg = NULL;
  rep->arena = NULL;
}

/* Decode rep->msg[0..len) into rep->m, growing rep->arena as needed. */
static int decode(coro__dns_reply *rep, size_t len) {
  size_t cap = 4096 + len * 16;
  for (;;) {
    free(rep->arena);
    rep->arena = coro__malloc(cap);
    if (!rep->arena)
      return -ENOMEM;
    int rc = coro__dns_decode(rep->msg, len, &rep->m, rep->arena, cap);
    if (rc != -EMSGSIZE)
      return rc < 0 ? rc : 0;
    if (cap >= ARENA_MAX)
      return -EBADMSG;
    cap *= 2;
  }
}

/* Is m the answer to our question? A server that rejects EDNS with
 * FORMERR may leave the question out (RFC 6891 7): then the id and the
 * rcode must do. */
static int answers(const coro__dns_msg *m, uint16_t id, const char *name,
                   uint16_t type) {
  if (coro__dns_is_answer_to(m, id, name, type))
    return 1;
  return m->qdcount == 0 && m->id == id && (m->flags & CORO__DNS_F_QR) &&
         m->rcode == CORO__DNS_R_FORMERR;
}

/* One try over UDP, on server slot si's pooled socket (dns_udp.c): an
 * in-flight slot waited for until deadline (the lookup's; -ETIME when it
 * passes), then timeout for the answer (within deadline): 0 with rep->m
 * decoded and matching, or -ETIMEDOUT (*bad
 * set when malformed answers were ignored), -ECANCELED, -ECONNREFUSED,
 * -errno. The socket is connected, so the kernel has already dropped
 * datagrams from other addresses and ports; the id and the question are
 * checked here. */
static int udp_try(coro_resolver *r, int si, const struct sockaddr *sa,
                   socklen_t salen, uint8_t *q, size_t qlen, uint16_t *idp,
                   const char *name, uint16_t type, coro__dns_reply *rep,
                   int64_t timeout, int64_t deadline, int *bad) {
  /* On the heap: other queries' readers write to it, and with shared
   * stacks ours is not where it was while another coroutine runs. */
  coro__dns_udp_q *uq = coro__malloc(sizeof *uq);
  if (!uq)
    return -ENOMEM;
  /* The wait for an in-flight slot runs until the lookup's deadline, not
   * the try's: a question that waited is no timeout of the server (it was
   * never sent). The try's window opens once it holds the slot. */
  int rc = coro__dns_udp_open(r, si, sa, salen, uq, deadline);
  if (rc < 0) {
    free(uq);
    return rc == -ETIMEDOUT ? -ETIME : rc;
  }
  int64_t try_dl = coro_now() + timeout;
  if (deadline >= 0 && deadline < try_dl)
    try_dl = deadline;
  /* Two questions on one socket must not share an id. */
  uint16_t id = *idp;
  while (coro__dns_udp_id_taken(uq, id))
    id = coro__resolver_id(r);
  q[0] = (uint8_t)(id >> 8);
  q[1] = (uint8_t)id;
  *idp = id;
  rc = coro__dns_udp_send(r, uq, q, qlen, id, try_dl);
  while (rc >= 0) {
    ssize_t n = coro__dns_udp_recv(r, uq, try_dl);
    if (n < 0) {
      rc = (int)n;
      break;
    }
    /* The datagram is ours now (an exact-size copy). */
    free(rep->msg);
    rep->msg = uq->msg;
    uq->msg = NULL;
    int d = decode(rep, (size_t)n);
    if (d == -ENOMEM) {
      rc = d;
      break;
    }
    if (d < 0 || !answers(&rep->m, id, name, type)) {
      *bad |= d < 0;
      r->ignored++;
      continue;
    }
    rep->len = (size_t)n;
    memcpy(&rep->from, sa, salen);
    rep->from_len = salen;
    rc = 0;
    break;
  }
  coro__dns_udp_close(r, uq);
  free(uq);
  return rc;
}

/* Read exactly n bytes: 0, -EBADMSG at an early end, or -errno. */
static int read_full(int fd, uint8_t *p, size_t n, int64_t dl) {
  while (n > 0) {
    ssize_t k = coro_read(fd, p, n, dl);
    if (k < 0)
      return (int)k;
    if (k == 0)
      return -EBADMSG;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* One try over TCP (RFC 7766: two length bytes before each message). */
static int tcp_try(coro_resolver *r, const struct sockaddr *sa,
                   socklen_t salen, const uint8_t *q, size_t qlen, uint16_t id,
                   const char *name, uint16_t type, coro__dns_reply *rep,
                   int64_t try_dl) {
  int fd = coro_connect(sa, salen, try_dl);
  if (fd < 0)
    return fd;
  uint8_t out[CORO__DNS_QUERY_MAX + 2];
  out[0] = (uint8_t)(qlen >> 8);
  out[1] = (uint8_t)qlen;
  memcpy(out + 2, q, qlen);
  ssize_t rc = coro_write_all(fd, out, qlen + 2, try_dl);
  uint8_t lb[2];
  if (rc >= 0) {
    r->queries_tcp++;
    rc = read_full(fd, lb, 2, try_dl);
  }
  size_t len = (size_t)lb[0] << 8 | lb[1];
  if (rc >= 0 && len < CORO__DNS_HDR_LEN)
    rc = -EBADMSG;
  if (rc >= 0) {
    /* Exactly len: a later UDP try no longer receives into rep->msg
     * (dns_udp.c hands it a buffer of the datagram's size), so nothing
     * else is ever read into this one. On -ENOMEM the old one stays. */
    uint8_t *m = coro__malloc(len);
    if (m) {
      free(rep->msg);
      rep->msg = m;
      rc = read_full(fd, rep->msg, len, try_dl);
    } else {
      rc = -ENOMEM;
    }
  }
  if (rc >= 0)
    rc = decode(rep, len);
  /* The connection is to the server itself: a wrong answer on it is an
   * error, not a spoof to wait past. */
  if (rc >= 0 && !answers(&rep->m, id, name, type))
    rc = -EBADMSG;
  if (rc >= 0) {
    rep->len = len;
    memcpy(&rep->from, sa, salen);
    rep->from_len = salen;
  }
  coro_fd_close(fd);
  return (int)rc;
}

int coro__dns_exchange(coro_resolver *r, const char *name, uint16_t type,
                       coro__dns_reply *out, int64_t deadline) {
  memset(out, 0, sizeof *out);
  const coro__dns_conf *c = &r->conf;
  const struct sockaddr_storage *srv = r->nservers ? r->servers : c->servers;
  const socklen_t *srv_len = r->nservers ? r->server_len : c->server_len;
  int n = r->nservers ? r->nservers : c->nservers;
  if (n <= 0)
    return -ETIMEDOUT; /* cannot happen: the conf defaults to two */
  int vc = (c->opts & CORO__DNS_O_USE_VC) != 0;
  int64_t timeout = (int64_t)c->timeout_s * 1000000000;
  int start = (c->opts & CORO__DNS_O_ROTATE) ? (int)(r->rot++ % (unsigned)n) : 0;
  uint8_t done[CORO__RES_MAX_SERVERS] = {0};   /* answered with a failure */
  uint8_t no_edns[CORO__RES_MAX_SERVERS] = {0}; /* answered FORMERR to EDNS */
  int servfail = 0, refused = 0, bad = 0, other = 0, tries = 0;
  int rc = -ETIMEDOUT;
  for (int a = 0; a < c->attempts; a++) {
    for (int k = 0; k < n; k++) {
      int i = (start + k) % n;
      if (done[i])
        continue;
      const struct sockaddr *sa = (const struct sockaddr *)&srv[i];
      int64_t now = coro_now();
      if (deadline >= 0 && now >= deadline)
        goto fail;
      int64_t try_dl = now + timeout;
      if (deadline >= 0 && deadline < try_dl)
        try_dl = deadline;
      if (tries++ > 0)
        r->retries++;
      /* On failure, out->from says which server was asked last. */
      memcpy(&out->from, sa, srv_len[i]);
      out->from_len = srv_len[i];
      uint8_t q[CORO__DNS_QUERY_MAX];
      uint16_t id;
      int qlen;
    again:
      id = coro__resolver_id(r);
      qlen = coro__dns_encode_query(
          q, sizeof q, id, name, type,
          CORO__DNS_Q_RD | (no_edns[i] ? 0 : CORO__DNS_Q_EDNS));
      if (qlen < 0) {
        rc = qlen;
        goto out;
      }
      rc = vc ? tcp_try(r, sa, srv_len[i], q, (size_t)qlen, id, name, type, out,
                        try_dl)
              : udp_try(r, i, sa, srv_len[i], q, (size_t)qlen, &id, name, type,
                        out, timeout, deadline, &bad);
      if (rc == 0 && !no_edns[i] && out->m.rcode == CORO__DNS_R_FORMERR &&
          !out->m.has_opt) {
        no_edns[i] = 1; /* an old server: ask again, plainly */
        goto again;
      }
      if (rc == 0 && !vc && (out->m.flags & CORO__DNS_F_TC)) {
        /* TCP gets a timeout of its own, as in glibc. */
        try_dl = coro_now() + timeout;
        if (deadline >= 0 && deadline < try_dl)
          try_dl = deadline;
        id = coro__resolver_id(r);
        qlen = coro__dns_encode_query(
            q, sizeof q, id, name, type,
            CORO__DNS_Q_RD | (no_edns[i] ? 0 : CORO__DNS_Q_EDNS));
        rc = tcp_try(r, sa, srv_len[i], q, (size_t)qlen, id, name, type, out,
                     try_dl);
      }
      if (rc == -ECANCELED || rc == -ENOMEM)
        goto out;
      if (rc == -ETIME) /* the lookup's deadline, waiting for a UDP slot */
        goto fail;
      if (rc == -ETIMEDOUT) {
        r->timeouts++;
        continue;
      }
      if (rc < 0) {
        other = rc; /* unreachable, refused connection: the next server */
        if (rc == -EBADMSG)
          bad = 1;
        continue;
      }
      switch (out->m.rcode) {
      case CORO__DNS_R_NOERROR:
      case CORO__DNS_R_NXDOMAIN:
        return 0;
      case CORO__DNS_R_REFUSED:
        refused = 1;
        break;
      default: /* SERVFAIL, NOTIMP, FORMERR, anything else */
        servfail = 1;
        break;
      }
      done[i] = 1;
    }
  }
fail:
  rc = servfail ? -CORO_ESERVFAIL
       : refused ? -CORO_EREFUSED
       : bad     ? -EBADMSG
       : other && other != -EBADMSG ? other
                 : -ETIMEDOUT;
  if (deadline >= 0 && coro_now() >= deadline && !servfail && !refused)
    rc = -ETIMEDOUT;
out:
  coro__dns_reply_free(out);
  return rc;
}
