/* poll.c - the loop's I/O side: per-fd waiter queues, registrations with
 * the kernel poller, wakeups, and the sleep of an idle loop.
 *
 * Backend contract (one small interface, two implementations included
 * below: poll_epoll.inc and poll_poll.inc). Units: timeouts in nanoseconds,
 * -1 meaning "forever" and 0 "do not sleep"; events are the engine's
 * CORO_POLL* bits, which each backend maps to and from its kernel bits in
 * exactly one place (its to_kernel/from_kernel pair).
 *   create(p)     make the backend state in p->be: 0 or -errno
 *   destroy(p)    free it (closes the kernel object)
 *   arm(p, fd, events, gen, mode, known)
 *                 register fd for events (CORO_POLLIN | CORO_POLLOUT), or
 *                 change its registration when `known` says the backend
 *                 already has one. mode POLL__ONESHOT: once an event is
 *                 reported the registration is disabled (not removed)
 *                 until armed again; POLL__PERSIST: level-triggered and
 *                 kept; POLL__EDGE (only if the backend sets `edge`):
 *                 kept, and reports only changes to ready. gen is handed
 *                 back with every event of this registration.
 *                 0, -ENOENT (known, but the kernel has no registration for
 *                 the file now behind fd), -EBADF, -EPERM (fd cannot be
 *                 polled: a regular file), -ENOMEM.
 *   disarm(p, fd) remove fd's registration (errors ignored)
 *   wait(p, timeout_ns, out, cap)
 *                 sleep until an event or the timeout; fill out[] with up
 *                 to cap (fd, events, gen); return the count (0 on EINTR).
 *   name          "epoll" or "poll"
 *
 * Why one-shot and level-triggered. Level-triggered makes coro_fd_wait
 * correct for any caller, including one that waits without first reading
 * to EAGAIN (edge-triggered would lose an edge that came before the wait
 * unless the engine tracked readiness itself, which it cannot: it does not
 * see the caller's reads). One-shot makes an fd nobody waits on cost at
 * most one report (never a busy loop on a readable or hung-up socket
 * nobody reads), and makes the engine robust to an fd closed with plain
 * close() between two waits: every wait that finds no other waiter on the
 * fd re-arms it with one epoll_ctl(MOD), and MOD fails with ENOENT when the
 * number now names another file, so the engine registers the new file
 * afresh.
 *
 * The exception: edge-triggered read registrations for the engine's own
 * sockets. One epoll_ctl per wait is a syscall per request on a
 * request/response connection (libuv and Go pay none). An fd made by the
 * engine's socket calls (coro__fd_adopt: socket, accept) is "owned": it is
 * closed through coro_fd_close, and every fd number those calls hand out
 * resets its record. A wait for reading alone on an owned fd registers it
 * edge-triggered and keeps the registration between waits. Which waits
 * may then skip the kernel is decided by what the engine knows about the
 * fd's read side, as Go's netpoller does with its pollDesc states:
 *   - drained (coro__fd_wait_drained): the engine's own read just had
 *     EAGAIN from this fd, in the same call, with no switch in between. Any
 *     data after that is a new edge, which the kernel queues even before
 *     the waiter parks: the wait makes no syscall. This is the wait of
 *     every coro_read and coro_accept that blocks.
 *   - pending: an edge came while no reader waited (r->pending). The next
 *     coro_fd_wait returns it at once, no syscall (a hint, as readiness
 *     always is: the data may have been read meanwhile), and consumes it.
 *     Every arm drops it: ADD and MOD make the kernel report the fd's
 *     readiness afresh, so an edge of an earlier registration is stale.
 *   - anything else (a coro_fd_wait from outside, after a partial read or
 *     none, or after any number of things the engine did not see, such as
 *     a plain close() and a new file under the same number): the wait
 *     re-arms with epoll_ctl(MOD). MOD makes the kernel look at the fd's
 *     readiness now and queue an event if it is ready, so an edge consumed
 *     earlier is not lost; and it fails with ENOENT when the registration
 *     is gone because its file was closed, so the new file is registered
 *     afresh (one-shot: it is not known to be the engine's). That is one
 *     syscall, as many as the one-shot design makes, and it is counted in
 *     fd_arms (the wait once asked poll(2) instead, which no stat counted).
 * A drained wait cannot MOD (that is the syscall it saves), so the read
 * before it checks instead, for free: coro_read and coro_readv read an
 * owned fd with recvmsg (socket.c), the same call for a socket, which fails
 * with ENOTSOCK on any other file. A pipe, regular file or eventfd that
 * took the number of a socket closed with plain close() is found so, and
 * its record reset (coro__fd_disown) before the wait. What stays
 * unprotected: a socket not made by the engine (another library's) taking
 * that number, read first with coro_read, coro_readv or coro_recv: recvmsg
 * works on it, the drained wait trusts the registration that died with the
 * old socket, and nothing tells the engine so without a syscall per read.
 * coro.h forbids plain close() on the engine's sockets for that reason;
 * every other order is caught by the MOD or by ENOTSOCK.
 * An edge is never dropped: with no reader waiting it becomes pending (the
 * reader, woken earlier and not run yet, will read before it waits again;
 * a drained wait clears it). Level-triggered persistence would instead
 * re-report such an fd at every poll until its reader runs, which with
 * 1,000 busy connections costs more than the epoll_ctl it saves. Waits
 * for writing stay one-shot (a socket is writable nearly always), and so
 * does everything with a backend that has no edge mode (poll).
 *
 * Generations. Each fd's record carries a generation, bumped whenever the
 * engine learns the number stopped naming the file it registered
 * (coro_fd_close, coro_fd_forget, MOD -> ENOENT, POLLNVAL). The kernel
 * hands the generation back with each event, and an event whose
 * generation is not the record's is dropped: a registration that outlived
 * its fd through a dup can never wake waiters of a new fd with that number.
 *
 * Waiters. A coroutine has one wait node, so it parks on exactly one
 * queue; each fd has three (waiting for IN, for OUT, for both), and the
 * queue says what it waits for, so no field is added to the coroutine
 * record. The records live in fixed-size chunks that never move (wait
 * nodes point at their queue), indexed by fd. Nothing here points into a
 * coroutine's stack.
 */
#include "coro_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Internal event bit: the fd is not open (poll's POLLNVAL). */
#define POLL__NVAL 0x100u
#define POLL__ALL (CORO_POLLIN | CORO_POLLOUT | CORO_POLLERR | CORO_POLLHUP)

/* Events fetched from the kernel per call. */
#define EVS_MAX 256

/* fd records per chunk. */
#define CHUNK_SHIFT 8
#define CHUNK ((size_t)1 << CHUNK_SHIFT)

typedef struct pollev {
  int fd;
  unsigned events;
  uint32_t gen;
} pollev;

/* Registration modes (see the backend contract). */
enum { POLL__ONESHOT = 0, POLL__PERSIST = 1, POLL__EDGE = 2 };

typedef struct backend_ops {
  const char *name;
  int edge; /* supports POLL__EDGE */
  int (*create)(coro__poller *p);
  void (*destroy)(coro__poller *p);
  int (*arm)(coro__poller *p, int fd, unsigned events, uint32_t gen,
             int mode, int known);
  void (*disarm)(coro__poller *p, int fd);
  int (*wait)(coro__poller *p, int64_t timeout_ns, pollev *out, int cap);
} backend_ops;

/* One fd. q[events - 1]: waiters for IN (0), OUT (1), IN|OUT (2). */
typedef struct fdrec {
  coro__waitq q[3];
  uint32_t gen;
  uint8_t armed;      /* events enabled in the kernel now */
  uint8_t registered; /* the backend has a registration for fd */
  uint8_t owned;      /* made by the engine's socket calls (coro__fd_adopt) */
  uint8_t edge;       /* the registration is POLL__EDGE (see rec_arm) */
  uint8_t pending;    /* edge registration: events reported while no reader
                         waited, not yet handed to a wait (top comment);
                         every arm clears it (the kernel re-reports) */
} fdrec;

struct coro__poller {
  const backend_ops *ops;
  void *be;            /* the backend's state */
  fdrec **chunks;      /* chunk i holds fds [i*CHUNK, (i+1)*CHUNK) */
  size_t nchunks;
  uint64_t waiters;    /* coroutines parked in coro_fd_wait */
  uint64_t polled_at;  /* the loop's switch count at the last backend wait */
  /* Counters for coro_loop_stats (read racily from other threads); what
   * each counts is documented there. */
  uint64_t n_fds;      /* fd records with registered set */
  uint64_t n_calls;    /* backend wait calls */
  uint64_t n_events;   /* events handed to a live registration */
  uint64_t n_arms;     /* registrations made or changed (backend arm) */
  uint64_t n_probes;   /* poll(2) of a coro_fd_wait with deadline 0 */
  uint64_t n_syscalls; /* every syscall the poller made (backends count) */
  int wake_fd;
  int wake_edge;       /* wake_fd is edge-triggered: never drained */
  int sigpipe_was_blocked;
  pollev evs[EVS_MAX];
};

/* A timeout in ns as a timespec. */
static struct timespec ns_to_ts(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

#ifdef __linux__
#include "poll_epoll.inc"
#endif
#include "poll_poll.inc"

/* ---- fd records -------------------------------------------------------- */

static fdrec *rec_get(coro__poller *p, int fd, int grow) {
  size_t c = (size_t)fd >> CHUNK_SHIFT;
  if (c >= p->nchunks) {
    if (!grow)
      return NULL;
    size_t n = p->nchunks ? p->nchunks * 2 : 4;
    while (n <= c)
      n *= 2;
    fdrec **nc = coro__realloc(p->chunks, n * sizeof *nc);
    if (!nc)
      return NULL;
    memset(nc + p->nchunks, 0, (n - p->nchunks) * sizeof *nc);
    p->chunks = nc;
    p->nchunks = n;
  }
  if (!p->chunks[c]) {
    if (!grow)
      return NULL;
    p->chunks[c] = coro__calloc(CHUNK, sizeof(fdrec));
    if (!p->chunks[c])
      return NULL;
  }
  return &p->chunks[c][(size_t)fd & (CHUNK - 1)];
}

/* What the parked waiters of r wait for. */
static unsigned rec_wanted(const fdrec *r) {
  unsigned w = 0;
  for (unsigned i = 0; i < 3; i++)
    if (r->q[i].head)
      w |= i + 1;
  return w;
}

/* Every change of r->registered goes through here, so that the count of
 * registered fds in the stats stays exact. */
static void rec_set_registered(coro__poller *p, fdrec *r, int on) {
  if (r->registered && !on)
    p->n_fds--;
  else if (!r->registered && on)
    p->n_fds++;
  r->registered = (uint8_t)(on != 0);
}

/* Register fd for want: one-shot, or, for a wait for reading alone on an
 * fd the engine made, edge-triggered and kept (see the top comment). */
static int rec_arm(coro__poller *p, int fd, fdrec *r, unsigned want) {
  int rc;
  for (;;) {
    int edge = r->owned && want == CORO_POLLIN && p->ops->edge;
    p->n_arms++;
    rc = p->ops->arm(p, fd, want, r->gen, edge ? POLL__EDGE : POLL__ONESHOT,
                     r->registered);
    if (rc == -ENOENT && r->registered) {
      /* The number names another file now (closed with plain close() and
       * reused): a new generation keeps events of the old registration,
       * which may live on through a dup, away from the new file; and the
       * new file is not known to be the engine's. */
      r->gen++;
      rec_set_registered(p, r, 0);
      r->owned = 0;
      r->pending = 0;
      continue;
    }
    if (rc < 0)
      return rc;
    rec_set_registered(p, r, 1);
    r->armed = (uint8_t)want;
    r->edge = (uint8_t)edge;
    /* Any arm (ADD or MOD) has the kernel look at the fd's readiness now
     * and report it afresh, so an edge kept from an earlier registration
     * says nothing more; kept, it outlived its data and woke a later wait
     * for nothing (io_test pending_edge_after_oneshot). */
    r->pending = 0;
    return 0;
  }
}

/* Drop fd's kernel registration and its state (waiters stay). */
static void rec_disarm(coro__poller *p, int fd, fdrec *r) {
  if (r->registered)
    p->ops->disarm(p, fd);
  rec_set_registered(p, r, 0);
  r->armed = 0;
  r->edge = 0;
  r->pending = 0;
}

static void rec_wake_all(fdrec *r, int status) {
  for (int i = 0; i < 3; i++)
    coro__wake_all(&r->q[i], status);
}

/* ---- Waiting ----------------------------------------------------------- */

/* The poller of the calling thread's loop, or NULL (no loop, or fd < 0). */
static coro__poller *poller_here(int fd) {
  coro_loop *l = coro__tls_loop;
  return fd >= 0 && l ? l->poller : NULL;
}

/* Deadline 0: ask the kernel once, without a loop (p: the loop's poller,
 * to count the call, or NULL). */
static int poll_once(coro__poller *p, int fd, int events) {
  struct pollfd pf = {.fd = fd, .events = 0};
  if (events & CORO_POLLIN)
    pf.events |= POLLIN;
  if (events & CORO_POLLOUT)
    pf.events |= POLLOUT;
  if (p) {
    p->n_probes++;
    p->n_syscalls++;
  }
  int n; /* with a zero timeout too, a pending signal gives EINTR */
  while ((n = coro__ppoll(&pf, 1, &(struct timespec){0, 0})) < 0 &&
         errno == EINTR)
    ;
  if (n < 0)
    return -errno;
  if (pf.revents & POLLNVAL)
    return -EBADF;
  int m = 0;
  if (pf.revents & POLLIN)
    m |= CORO_POLLIN;
  if (pf.revents & POLLOUT)
    m |= CORO_POLLOUT;
  if (pf.revents & POLLERR)
    m |= CORO_POLLERR;
  if (pf.revents & POLLHUP)
    m |= CORO_POLLHUP;
  m &= events | CORO_POLLERR | CORO_POLLHUP;
  return m ? m : -ETIMEDOUT;
}

/* coro_fd_wait; drained: the caller just had EAGAIN from fd for these
 * events, so an edge-triggered registration cannot have missed its edge. */
static int fd_wait(int fd, int events, int64_t deadline, int drained) {
  if (fd < 0)
    return -EBADF;
  events &= CORO_POLLIN | CORO_POLLOUT;
  if (!events)
    return -EINVAL;
  int err;
  coro *me = coro__blocker(&err);
  if (!me)
    return deadline == 0 ? poll_once(poller_here(fd), fd, events) : err;
  if (me->flags & CORO__F_CANCELLED)
    return -ECANCELED;
  coro__poller *p = me->loop->poller;
  if (deadline == 0)
    return poll_once(p, fd, events);
  fdrec *r = rec_get(p, fd, 1);
  if (!r)
    return -ENOMEM;
  unsigned have = rec_wanted(r);
  unsigned want = have | (unsigned)events;
  int rearm;
  if (r->edge && r->armed == want) {
    /* The kept edge registration covers the wait (so want is IN alone):
     * whether to ask the kernel follows from what the engine knows of the
     * fd's read side (see the top comment). */
    if (drained) {
      r->pending = 0; /* the caller's EAGAIN is newer than any edge */
      rearm = 0;
    } else if (r->pending) {
      int m = r->pending & (events | CORO_POLLERR | CORO_POLLHUP);
      r->pending = 0;
      return m;
    } else {
      rearm = 1; /* MOD: readiness now, and ENOENT for a stale record */
    }
  } else {
    /* With no other waiter, nothing proves the registration still names
     * this file: re-arm. With waiters, it does (arming anew needs no check
     * of the readiness before it: the kernel reports a ready fd at once). */
    rearm = !have || (want & ~(unsigned)r->armed);
  }
  if (rearm) {
    int rc = rec_arm(p, fd, r, want);
    if (rc == -EPERM)
      return events; /* a regular file: always ready, as poll(2) says */
    if (rc < 0)
      return rc;
  }
  p->waiters++;
  int rc = coro__wait_for(&r->q[events - 1], deadline, CORO_WAIT_FD, NULL,
                          (int64_t)fd | (int64_t)events << 32);
  p->waiters--;
  return rc;
}

int coro_fd_wait(int fd, int events, int64_t deadline) {
  return fd_wait(fd, events, deadline, 0);
}

int coro__fd_wait_drained(int fd, int events, int64_t deadline) {
  return fd_wait(fd, events, deadline, 1);
}

/* ---- The calling loop's records ------------------------------------------ */

/* The number fd no longer names the file r was about: wake its waiters
 * with -EBADF, drop the registration, and start a new generation (events
 * of the old registration, alive through a dup, are then dropped). owned:
 * the new file is the engine's (coro__fd_adopt). */
static void rec_reset(coro__poller *p, int fd, fdrec *r, int owned) {
  rec_wake_all(r, -EBADF);
  rec_disarm(p, fd, r);
  r->owned = (uint8_t)owned;
  r->gen++;
}

/* coro_fd_close and coro_fd_forget: the file is going. */
static void release(int fd) {
  coro__poller *p = poller_here(fd);
  fdrec *r = p ? rec_get(p, fd, 0) : NULL;
  if (r)
    rec_reset(p, fd, r, 0);
}

/* The kernel just handed out this number, so whatever the record says is
 * about a file closed behind the engine's back: its waiters would wait for
 * a registration that is gone, so they fail as after a close. */
void coro__fd_adopt(int fd) {
  coro__poller *p = poller_here(fd);
  fdrec *r = p ? rec_get(p, fd, 1) : NULL;
  if (r) /* (no memory: the fd just gets one-shot registrations) */
    rec_reset(p, fd, r, 1);
}

int coro__fd_owned(int fd) {
  coro__poller *p = poller_here(fd);
  fdrec *r = p ? rec_get(p, fd, 0) : NULL;
  return r && r->owned;
}

/* A read found that fd no longer names the engine's socket (closed with
 * plain close(), the number reused): as after MOD's ENOENT, the kept
 * registration died with the socket, its waiters would wait forever, and
 * the new file is not the engine's. */
void coro__fd_disown(int fd) {
  coro__poller *p = poller_here(fd);
  fdrec *r = p ? rec_get(p, fd, 0) : NULL;
  if (r)
    rec_reset(p, fd, r, 0);
}

int coro_fd_close(int fd) {
  release(fd);
  return close(fd) < 0 ? -errno : 0;
}

int coro_fd_forget(int fd) {
  release(fd);
  return 0;
}

/* ---- The loop's side ----------------------------------------------------- */

static void deliver(coro__poller *p, const pollev *e) {
  if (e->fd == p->wake_fd) {
    /* Edge-triggered (epoll): each write is an event of its own, so the
     * counter need not be read back to zero, a system call per wake-up
     * saved; it would take 2^64 wakes to fill. Level-triggered (poll):
     * drained, or every later wait would return at once. */
    if (p->wake_edge)
      return;
    uint64_t v;
    p->n_syscalls++;
    ssize_t n = read(p->wake_fd, &v, sizeof v);
    (void)n; /* EAGAIN: another event already drained it */
    return;
  }
  fdrec *r = rec_get(p, e->fd, 0);
  if (!r || !r->registered || r->gen != e->gen)
    return; /* stale: the registration of a file that is gone */
  if (!r->edge)
    r->armed = 0; /* one-shot: the backend disabled the registration */
  p->n_events++;
  if (e->events & POLL__NVAL) {
    rec_wake_all(r, -EBADF);
    rec_disarm(p, e->fd, r);
    r->gen++;
    return;
  }
  unsigned m = e->events & POLL__ALL;
  if (r->edge && !r->q[CORO_POLLIN - 1].head &&
      !r->q[(CORO_POLLIN | CORO_POLLOUT) - 1].head)
    r->pending |= (uint8_t)(m & (CORO_POLLIN | CORO_POLLERR | CORO_POLLHUP));
  for (unsigned i = 0; i < 3; i++) {
    unsigned got = m & ((i + 1) | CORO_POLLERR | CORO_POLLHUP);
    if (got)
      coro__wake_all(&r->q[i], (int)got);
  }
  /* Waiters left (for what did not come): arm again, unless the kept edge
   * registration already covers them. An edge with no reader waiting was
   * kept as pending above (see the top comment). */
  unsigned left = rec_wanted(r);
  if (left && !(r->edge && r->armed == left)) {
    int rc = rec_arm(p, e->fd, r, left);
    if (rc < 0)
      rec_wake_all(r, rc); /* cannot re-arm: they must not hang */
  }
}

void coro__poll_run(coro_loop *l, int64_t until) {
  coro__poller *p = l->poller;
  int64_t t = -1;
  if (until == 0)
    t = 0;
  else if (until > 0) {
    t = until - coro_now();
    if (t < 0)
      t = 0;
  }
  p->n_calls++;
  p->polled_at = l->n_switches;
  int n = p->ops->wait(p, t, p->evs, EVS_MAX);
  for (int i = 0; i < n; i++)
    deliver(p, &p->evs[i]);
}

uint64_t coro__poll_waiters(const coro_loop *l) {
  return l->poller ? l->poller->waiters : 0;
}

int coro__poll_due(const coro_loop *l) {
  const coro__poller *p = l->poller;
  return p && p->waiters && p->polled_at != l->n_switches;
}

/* Fill the I/O fields of coro_loop_stats (called by coro_loop_stats_get,
 * possibly from another thread: the counters are read without locking). */
void coro__poll_stats(const coro_loop *l, coro_loop_stats *out) {
  const coro__poller *p = l->poller;
  if (!p)
    return;
  out->fds = p->n_fds;
  out->poll_calls = p->n_calls;
  out->events = p->n_events;
  out->fd_arms = p->n_arms;
  out->poll_probes = p->n_probes;
  out->poll_syscalls = p->n_syscalls;
  out->fd_waiters = p->waiters;
}

const char *coro_loop_poll_backend(const coro_loop *l) {
  return l && l->poller ? l->poller->ops->name : "";
}

/* SIGPIPE. A write to a socket or pipe whose reader is gone raises SIGPIPE,
 * which kills the process by default. send() can refuse it (MSG_NOSIGNAL),
 * but write(), writev() and sendfile() cannot; so a loop thread blocks
 * SIGPIPE in its signal mask, and the failing call just returns EPIPE. The
 * blocked signal stays pending on the thread, though, and would fire the
 * moment the mask is restored: after every EPIPE the engine takes it back
 * with sigtimedwait and a zero timeout. (Standard signals do not queue, so
 * one call drains it.) */
void coro__sigpipe_drain(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {
  }
}

static int pick_backend(int backend, const backend_ops **out) {
  if (backend == CORO_POLL_DEFAULT) {
    const char *e = getenv("CORO_POLL");
    if (e && strcmp(e, "poll") == 0)
      backend = CORO_POLL_POLL;
    else
      backend = CORO_POLL_EPOLL;
#ifndef __linux__
    if (backend == CORO_POLL_EPOLL)
      backend = CORO_POLL_POLL;
#endif
  }
  switch (backend) {
#ifdef __linux__
  case CORO_POLL_EPOLL:
    *out = &epoll_ops;
    return 0;
#endif
  case CORO_POLL_POLL:
    *out = &poll_ops;
    return 0;
  default:
    return -EINVAL;
  }
}

int coro__poll_new(coro_loop *l, int backend) {
  const backend_ops *ops;
  int rc = pick_backend(backend, &ops);
  if (rc < 0)
    return rc;
  coro__poller *p = coro__calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->ops = ops;
  p->wake_fd = l->wake_fd;
  rc = ops->create(p);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->wake_edge = ops->edge;
  rc = ops->arm(p, l->wake_fd, CORO_POLLIN, 0,
                p->wake_edge ? POLL__EDGE : POLL__PERSIST, 0);
  if (rc < 0) {
    ops->destroy(p);
    free(p);
    return rc;
  }
  sigset_t s, old;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, &old);
  p->sigpipe_was_blocked = sigismember(&old, SIGPIPE) == 1;
  l->poller = p;
  return 0;
}

void coro__poll_free(coro_loop *l) {
  coro__poller *p = l->poller;
  if (!p)
    return;
  if (!p->sigpipe_was_blocked) {
    /* Unblocking would deliver a pending SIGPIPE: discard it first. */
    coro__sigpipe_drain();
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  }
  for (size_t i = 0; i < p->nchunks; i++)
    free(p->chunks[i]);
  free(p->chunks);
  p->ops->destroy(p);
  free(p);
  l->poller = NULL;
}
