//go:build coro_openssl

/* fixture.c - the TLS tests' C fixtures (contract in fixture.h). */
#include "fixture.h"
#include "coro.h"
#include "coro_tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct client_run {
  const tlstest_client_args *a;
  tlstest_conn_result *res;
  coro_tls_config *cfg;
} client_run;

static void one_conn(client_run *cr, tlstest_conn_result *r) {
  const tlstest_client_args *a = cr->a;
  int64_t dl = coro_now() + a->timeout_ns;
  struct sockaddr_storage ss;
  socklen_t sl;
  int rc = coro_addr_parse(a->addr, &ss, &sl);
  r->step = 1;
  int fd = rc < 0 ? rc : coro_connect((struct sockaddr *)&ss, sl, dl);
  if (fd < 0) {
    r->rc = fd;
    return;
  }
  coro_tls *t = NULL;
  r->step = 2;
  rc = coro_tls_connect(&t, fd, a->host, cr->cfg, dl);
  if (rc == 0) {
    r->reused = coro_tls_session_reused(t);
    snprintf(r->version, sizeof r->version, "%s", coro_tls_version(t));
    snprintf(r->alpn, sizeof r->alpn, "%s", coro_tls_alpn(t));
    if (a->msg) {
      r->step = 3;
      ssize_t w = coro_tls_write(t, a->msg, strlen(a->msg), dl);
      rc = w < 0 ? (int)w : 0;
    }
  }
  if (rc == 0) {
    r->step = 4;
    char buf[4096];
    for (;;) {
      ssize_t n = coro_tls_read(t, buf, sizeof buf, dl);
      if (n <= 0) {
        rc = (int)n;
        break;
      }
      size_t have = (size_t)r->nread;
      if (have < sizeof r->data - 1) {
        size_t k = sizeof r->data - 1 - have;
        memcpy(r->data + have, buf, (size_t)n < k ? (size_t)n : k);
      }
      r->nread += n;
    }
  }
  if (rc < 0)
    snprintf(r->err, sizeof r->err, "%s", coro_tls_last_error());
  else
    r->step = 0;
  r->rc = rc;
  if (t) {
    coro_tls_shutdown(t, dl);
    coro_tls_free(t);
  }
  coro_fd_close(fd);
}

static void *client_main(void *arg) {
  client_run *cr = arg;
  for (int i = 0; i < cr->a->conns; i++)
    one_conn(cr, &cr->res[i]);
  return NULL;
}

int tlstest_client(const tlstest_client_args *a, tlstest_conn_result *res) {
  coro_tls_opts o = {.ca_file = a->ca_file,
                     .min_version = a->min_version,
                     .max_version = a->max_version,
                     .insecure = a->insecure};
  client_run cr = {.a = a, .res = res};
  int rc = coro_tls_client_new(&cr.cfg, &o);
  if (rc < 0) {
    snprintf(res[0].err, sizeof res[0].err, "%s", coro_tls_last_error());
    return rc;
  }
  coro_loop_opts lo = {.stack_mode = a->stack_shared ? CORO_STACK_SHARED : 0};
  coro_loop *loop;
  if ((rc = coro_loop_new(&loop, &lo)) < 0) {
    coro_tls_config_free(cr.cfg);
    return rc;
  }
  rc = coro_spawn(NULL, client_main, &cr, NULL);
  if (rc == 0)
    rc = coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  coro_loop_close(loop, -1);
  coro_tls_config_free(cr.cfg);
  return rc;
}

/* ---- many handshakes on one loop ---- */

typedef struct many {
  coro_tls_config *srv, *cli;
  struct sockaddr_in addr;
  int n, lfd;
  coro_waitgroup wg;
  tlstest_many_result *r;
} many;

typedef struct handler {
  many *m;
  int fd;
} handler;

static void *serve_one(void *arg) {
  handler *h = arg;
  many *m = h->m;
  int fd = h->fd;
  free(h);
  int64_t dl = coro_now() + 300 * 1000000000LL; /* as many_client's */
  coro_tls *t;
  if (coro_tls_accept(&t, fd, m->srv, dl) == 0) {
    char buf[256];
    ssize_t n = coro_tls_read(t, buf, sizeof buf, dl);
    if (n > 0 && coro_tls_write(t, buf, (size_t)n, dl) == n &&
        coro_tls_shutdown(t, dl) == 0)
      m->r->served++;
    coro_tls_free(t);
  }
  coro_fd_close(fd);
  return NULL;
}

static void *accept_main(void *arg) {
  many *m = arg;
  for (;;) {
    int fd = coro_accept(m->lfd, NULL, NULL, -1);
    if (fd == -ECANCELED || fd == -EBADF)
      break;
    if (fd < 0) { /* a failed accept (a fault): the connection waits */
      if (coro_sleep(coro_now() + 1000000) < 0)
        break;
      continue;
    }
    handler *h = malloc(sizeof *h);
    if (!h) {
      coro_fd_close(fd);
      continue;
    }
    h->m = m;
    h->fd = fd;
    if (coro_spawn(NULL, serve_one, h, NULL) < 0) {
      free(h);
      coro_fd_close(fd);
    }
  }
  return NULL;
}

static void *many_client(void *arg) {
  many *m = arg;
  /* Only against a hang: 20 handshakes at once under valgrind on a
   * loaded machine took over 20 s (each side's P-256 work is about 50
   * times slower there), and every one then failed its deadline. */
  int64_t dl = coro_now() + 300 * 1000000000LL;
  int rc, fd = coro_connect((struct sockaddr *)&m->addr, sizeof m->addr, dl);
  coro_tls *t = NULL;
  rc = fd < 0 ? fd : coro_tls_connect(&t, fd, "localhost", m->cli, dl);
  static const char msg[] = "hello over TLS\n";
  char buf[64];
  size_t got = 0;
  if (rc == 0) {
    ssize_t w = coro_tls_write(t, msg, sizeof msg - 1, dl);
    rc = w < 0 ? (int)w : 0;
  }
  while (rc == 0) {
    ssize_t n = coro_tls_read(t, buf + got, sizeof buf - got, dl);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    got += (size_t)n;
  }
  if (rc == 0 && got == sizeof msg - 1 && memcmp(buf, msg, got) == 0) {
    m->r->ok++;
  } else {
    if (!m->r->failed++) {
      m->r->first_err = rc;
      snprintf(m->r->err, sizeof m->r->err, "%s", coro_tls_last_error());
    }
  }
  coro_tls_free(t);
  if (fd >= 0)
    coro_fd_close(fd);
  coro_wg_done(&m->wg);
  return NULL;
}

static void *many_main(void *arg) {
  many *m = arg;
  coro *acc;
  int rc = coro_spawn(&acc, accept_main, m, NULL);
  if (rc < 0) { /* no server: every client counts as failed */
    m->r->failed = m->n;
    m->r->first_err = rc;
    return NULL;
  }
  for (int i = 0; i < m->n; i++) {
    coro_wg_add(&m->wg, 1);
    if (coro_spawn(NULL, many_client, m, NULL) < 0) {
      coro_wg_done(&m->wg);
      m->r->failed++;
    }
  }
  coro_wg_wait(&m->wg, -1);
  coro_cancel(acc);
  coro_join(acc, -1, NULL);
  return NULL;
}

int tlstest_many(const char *cert, const char *key, const char *ca, int n,
                 tlstest_many_result *r) {
  many m = {.n = n, .r = r};
  coro_tls_opts so = {.cert_file = cert, .key_file = key};
  coro_tls_opts co = {.ca_file = ca};
  int rc = coro_tls_server_new(&m.srv, &so);
  if (rc == 0)
    rc = coro_tls_client_new(&m.cli, &co);
  if (rc < 0) {
    snprintf(r->err, sizeof r->err, "%s", coro_tls_last_error());
    goto out;
  }
  coro_wg_init(&m.wg);
  coro_loop *loop;
  if ((rc = coro_loop_new(&loop, NULL)) < 0)
    goto out;
  m.addr.sin_family = AF_INET;
  m.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  m.lfd = coro_tcp_listen((struct sockaddr *)&m.addr, sizeof m.addr, 1024, 0);
  socklen_t al = sizeof m.addr;
  if (m.lfd < 0 || getsockname(m.lfd, (struct sockaddr *)&m.addr, &al) < 0) {
    rc = m.lfd < 0 ? m.lfd : -errno;
  } else {
    rc = coro_spawn(NULL, many_main, &m, NULL);
    if (rc == 0)
      rc = coro_loop_run(loop, CORO_RUN_UNTIL_EMPTY);
  }
  if (m.lfd >= 0)
    coro_fd_close(m.lfd);
  coro_loop_close(loop, -1);
  coro_wg_destroy(&m.wg);
out:
  coro_tls_config_free(m.srv);
  coro_tls_config_free(m.cli);
  return rc;
}
