/* dns_udp.c - the resolver's UDP sockets: a small pool per resolver, one
 * current socket per server, each connected to its server and reused for
 * at most udp_max queries (coro_resolver_opts.udp_max_queries, default
 * 100; c-ares calls the same bound ARES_OPT_UDP_MAX_QUERIES).
 *
 * Why a pool: a fresh socket per query costs socket, an epoll
 * registration and close per question, the dearest calls of a cold
 * lookup. Why bounded: every socket still gets its own random source port
 * (the kernel's autobind at connect picks it at random among the
 * ephemeral ones), so an off-path spoofer has to guess the port as well as
 * the id (RFC 5452), and a port lives for at most udp_max questions. Why
 * connected: the kernel then drops datagrams from any other address or
 * port before we see them, and an ICMP port unreachable comes back as
 * ECONNREFUSED, which fails the server's pending questions at once instead
 * of at their timeout.
 *
 * Contract (resolver_internal.h): several queries wait on one socket at
 * once. One of them at a time reads the socket (the reader); a datagram
 * whose id is another pending query's is copied to that query's buffer
 * and wakes it, one with an unknown id is counted as ignored. When the
 * reader has its own answer, times out or is cancelled, it hands the
 * socket to another waiting query. The question is checked by the caller
 * (dns_transport.c), which waits again when it does not match. A socket
 * is closed when it is retired (full, failed, or its server changed) and
 * no query is left on it; coro__dns_udp_free closes all of them, those of
 * lookups abandoned by coro_loop_close included.
 */
#include "resolver_internal.h"

#include <netinet/in.h>
#include <string.h>

#define UDP_MAX_DEFAULT 100

struct coro__dns_udp_sock {
  int fd;
  uint32_t sent;     /* queries sent on it */
  uint32_t pending;  /* queries registered (coro__dns_udp_open .. _close) */
  int retired;       /* takes no new query; closed when pending is 0 */
  int reading;       /* a query is in coro_recv on fd */
  coro__dns_udp_q *head; /* the pending queries */
  struct sockaddr_storage to;
  socklen_t to_len;
  coro__dns_udp_sock *prev, *next; /* every socket of the resolver */
};

static void sock_free(coro_resolver *r, coro__dns_udp_sock *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    r->udp_all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  for (int i = 0; i < CORO__RES_MAX_SERVERS; i++)
    if (r->udp_cur[i] == s)
      r->udp_cur[i] = NULL;
  coro_fd_close(s->fd);
  free(s);
}

static void sock_retire(coro_resolver *r, coro__dns_udp_sock *s) {
  s->retired = 1;
  for (int i = 0; i < CORO__RES_MAX_SERVERS; i++)
    if (r->udp_cur[i] == s)
      r->udp_cur[i] = NULL;
  if (s->pending == 0)
    sock_free(r, s);
}

static int same_peer(const coro__dns_udp_sock *s, const struct sockaddr *sa,
                     socklen_t salen) {
  return s->to_len == salen && memcmp(&s->to, sa, salen) == 0;
}

uint32_t coro__dns_udp_max(uint32_t opt) {
  return opt ? opt : UDP_MAX_DEFAULT;
}

/* Wait for an in-flight slot (CORO__DNS_UDP_INFLIGHT): 0 with it taken,
 * or -ETIMEDOUT, -ECANCELED. Slots are handed over in order, as sync.c's
 * resources are: a closing query gives its slot to the longest waiter
 * (udp_busy unchanged), and coro__wait returns the hand-over's status even
 * if a cancel or the deadline follows before the waiter runs, so no
 * newcomer barges ahead of a waiter and no slot is lost. While anyone
 * waits, every slot is busy, so a newcomer queues behind. */
static int slot_take(coro_resolver *r, int64_t deadline) {
  if (r->udp_busy >= r->udp_busy_max)
    return coro__wait(&r->udp_slotq, deadline); /* 0: handed one */
  if (++r->udp_busy > r->udp_busy_peak)
    r->udp_busy_peak = r->udp_busy;
  return 0;
}

static void slot_give(coro_resolver *r) {
  if (!coro__wake_one(&r->udp_slotq, 0))
    r->udp_busy--; /* nobody waits: the slot is free */
}

int coro__dns_udp_open(coro_resolver *r, int si, const struct sockaddr *sa,
                       socklen_t salen, coro__dns_udp_q *q, int64_t deadline) {
  memset(q, 0, sizeof *q);
  int rc = slot_take(r, deadline);
  if (rc < 0)
    return rc;
  coro__dns_udp_sock *s = r->udp_cur[si];
  if (s && (s->sent >= r->udp_max || !same_peer(s, sa, salen))) {
    sock_retire(r, s);
    s = NULL;
  }
  if (!s) {
    if (salen > sizeof s->to) {
      slot_give(r);
      return -EINVAL;
    }
    s = coro__calloc(1, sizeof *s);
    if (!s) {
      slot_give(r);
      return -ENOMEM;
    }
    s->fd = coro__socket(sa->sa_family,
                         SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
      int err = -errno;
      free(s);
      slot_give(r);
      return err;
    }
    coro__fd_adopt(s->fd);
    /* Connecting binds the socket to a random ephemeral port (autobind)
     * and makes the kernel drop datagrams from anyone but the server. */
    if (coro__connect(s->fd, sa, salen) < 0) {
      int err = -errno;
      coro_fd_close(s->fd);
      free(s);
      slot_give(r);
      return err;
    }
    memcpy(&s->to, sa, salen);
    s->to_len = salen;
    s->next = r->udp_all;
    if (s->next)
      s->next->prev = s;
    r->udp_all = s;
    r->udp_cur[si] = s;
  }
  q->s = s;
  q->next = s->head;
  if (s->head)
    s->head->prev = q;
  s->head = q;
  s->pending++;
  return 0;
}

int coro__dns_udp_id_taken(const coro__dns_udp_q *q, uint16_t id) {
  for (const coro__dns_udp_q *p = q->s->head; p; p = p->next)
    if (p != q && p->id == id)
      return 1;
  return 0;
}

/* Send msg from the resolver's own buffer, once, without waiting: the
 * number of bytes sent, a negative errno, or -EAGAIN when the caller has
 * to wait and send from msg itself (the socket's buffer is full, a signal
 * came, or the buffer could not be had).
 *
 * Why a copy: msg is on the asking coroutine's stack, a page no system call
 * of this process has read before when the coroutine is new, and under a
 * shadow-paging hypervisor (PVM, as on the machines of this project) the kernel's first
 * touch of a user page costs a trap to the host: 16 us per page measured
 * (sendto of 35 bytes from 10,000 touched stacks, 21 us a call against 5
 * from one heap buffer), half the CPU of a cold lookup from a new
 * coroutine. The resolver's buffer is one page the kernel knows. Copy and
 * call run without a switch, so no other query overwrites the buffer in
 * between; a send that must wait copies from msg later, as before. */
static ssize_t send_hot(coro_resolver *r, int fd, const uint8_t *msg,
                        size_t len) {
  if (!r->udp_tx) {
    r->udp_tx = coro__malloc(CORO__DNS_QUERY_MAX);
    if (!r->udp_tx)
      return -EAGAIN; /* not needed: send from msg */
  }
  if (len > CORO__DNS_QUERY_MAX)
    return -EAGAIN;
  memcpy(r->udp_tx, msg, len);
  ssize_t rc = coro__sendto(fd, r->udp_tx, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                            NULL, 0);
  if (rc >= 0)
    return rc;
  return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
}

int coro__dns_udp_send(coro_resolver *r, coro__dns_udp_q *q, const uint8_t *msg,
                       size_t len, uint16_t id, int64_t deadline) {
  coro__dns_udp_sock *s = q->s;
  q->id = id;
  s->sent++;
  if (s->sent >= r->udp_max)
    sock_retire(r, s); /* its last question: no new one joins */
  ssize_t rc = send_hot(r, s->fd, msg, len);
  if (rc == -EAGAIN)
    rc = coro_send(s->fd, msg, len, 0, deadline);
  if (rc < 0) {
    /* A refused earlier datagram reports here too: the socket is done. */
    if (rc != -ETIMEDOUT && rc != -ECANCELED)
      sock_retire(r, s);
    return (int)rc;
  }
  r->queries_udp++;
  return 0;
}

/* A datagram delivered: a malloc'd copy of exactly its n bytes. */
static int deliver(coro__dns_udp_q *p, const uint8_t *d, size_t n) {
  uint8_t *m = coro__malloc(n ? n : 1);
  if (!m)
    return -ENOMEM;
  memcpy(m, d, n);
  free(p->msg);
  p->msg = m;
  p->len = n;
  p->got = 1;
  return 0;
}

/* Let another query waiting on s read it. */
static void hand_off(coro__dns_udp_sock *s, coro__dns_udp_q *self) {
  for (coro__dns_udp_q *p = s->head; p; p = p->next)
    if (p != self && !p->got && !p->err && p->wq.head) {
      coro__wake_one(&p->wq, 0);
      return;
    }
}

ssize_t coro__dns_udp_recv(coro_resolver *r, coro__dns_udp_q *q,
                           int64_t deadline) {
  coro__dns_udp_sock *s = q->s;
  for (;;) {
    if (q->got) {
      q->got = 0;
      return (ssize_t)q->len;
    }
    if (!r->udp_rx) {
      /* One receive buffer per resolver: a reader fills it and hands the
       * datagram on without switching, so no two readers meet in it; a
       * waiting query holds no buffer (10,000 at once would otherwise
       * hold 40 MB of fresh pages). */
      r->udp_rx = coro__malloc(CORO__DNS_UDP_RX);
      if (!r->udp_rx)
        return -ENOMEM;
    }
    if (q->err)
      return q->err;
    if (s->reading) {
      int rc = coro__wait(&q->wq, deadline);
      if (rc < 0)
        return rc;
      continue; /* an answer, an error, or the socket handed over */
    }
    s->reading = 1;
    ssize_t n = coro_recv(s->fd, r->udp_rx, CORO__DNS_UDP_RX, 0, deadline);
    s->reading = 0;
    if (n == -ETIMEDOUT || n == -ECANCELED) {
      hand_off(s, q);
      return n;
    }
    if (n < 0) {
      /* ECONNREFUSED (nothing listens there) or another socket error:
       * every question on this socket has it. */
      for (coro__dns_udp_q *p = s->head; p; p = p->next)
        if (p != q && !p->got) {
          p->err = (int)n;
          coro__wake_one(&p->wq, 0);
        }
      sock_retire(r, s);
      return n;
    }
    const uint8_t *d = r->udp_rx;
    uint16_t id = n >= 2 ? (uint16_t)(d[0] << 8 | d[1]) : 0;
    if (n >= 2 && id == q->id) {
      hand_off(s, q);
      if (deliver(q, d, (size_t)n) < 0)
        return -ENOMEM;
      q->got = 0;
      return n;
    }
    coro__dns_udp_q *p = s->head;
    for (; n >= 2 && p; p = p->next)
      if (p != q && p->id == id && !p->got && !p->err)
        break;
    if (!p) {
      r->ignored++; /* an answer to a query gone, or a stray */
      continue;
    }
    if (deliver(p, d, (size_t)n) < 0) {
      r->ignored++; /* no memory: as if lost on the way */
      continue;
    }
    coro__wake_one(&p->wq, 0);
  }
}

void coro__dns_udp_close(coro_resolver *r, coro__dns_udp_q *q) {
  coro__dns_udp_sock *s = q->s;
  if (!s)
    return;
  if (q->prev)
    q->prev->next = q->next;
  else
    s->head = q->next;
  if (q->next)
    q->next->prev = q->prev;
  q->s = NULL;
  free(q->msg);
  q->msg = NULL;
  slot_give(r);
  s->pending--;
  if (s->reading == 0)
    hand_off(s, q);
  if (s->retired && s->pending == 0)
    sock_free(r, s);
}

void coro__dns_udp_free(coro_resolver *r) {
  /* Queries still registered belong to lookups coro_loop_close abandoned
   * (their coroutines never run again): their records go too. */
  for (coro__dns_udp_sock *s = r->udp_all; s; s = s->next)
    for (coro__dns_udp_q *q = s->head, *next; q; q = next) {
      next = q->next;
      free(q->msg);
      free(q);
    }
  while (r->udp_all)
    sock_free(r, r->udp_all);
  free(r->udp_rx);
  r->udp_rx = NULL;
  free(r->udp_tx);
  r->udp_tx = NULL;
}

int coro__dns_udp_count(const coro_resolver *r) {
  int n = 0;
  for (const coro__dns_udp_sock *s = r->udp_all; s; s = s->next)
    n++;
  return n;
}
