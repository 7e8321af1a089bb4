/* httpd.h - the C side of coro httpd: a static-file HTTP/1.1 server with one
 * coroutine per connection, and the records it shares with httpd.go. */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdint.h>

#include "accesslog.h"
#include "coro.h"
#include "http_parse.h"
#include "mime.h"

/* A Cache-Control rule: for files under a path prefix, files with an
 * extension, or (neither) every file. */
typedef struct httpd_cache_rule {
  const char *prefix; /* relative to the root ("assets/"), or NULL */
  const char *ext;    /* lower case, without its dot ("js"), or NULL */
  const char *value;  /* the Cache-Control value, header-safe, <= 200 bytes */
  int64_t max_age;    /* its max-age in seconds (Expires), or -1: none */
} httpd_cache_rule;

/* A name-based virtual host: the site served for requests naming host. */
typedef struct httpd_vhost {
  const char *name; /* lower case, as http_host_name makes it */
  int root_fd;      /* an O_DIRECTORY fd of its root */
} httpd_vhost;

/* The server's settings, shared read-only by every loop's coroutines. */
typedef struct httpd_conf {
  int root_fd;               /* an O_DIRECTORY fd of the root (with vhosts:
                                the default site's) */
  /* Virtual hosts sorted by name (strcmp), or NULL and 0: one site. A
   * request naming none of them gets root_fd's site; one whose host cannot
   * be a name gets 400 (see httpd_root). */
  const httpd_vhost *vhosts;
  int nvhosts;
  int64_t header_timeout_ns; /* a whole request head must arrive in this */
  int64_t idle_timeout_ns;   /* an idle keep-alive connection lives this long */
  int64_t write_timeout_ns;  /* each part of a response must be taken in this */
  /* The lingering close after an error response (nginx's lingering_timeout
   * and lingering_time): the longest wait for each read of what the client
   * still sends, and for all of them. */
  int64_t lingering_timeout_ns;
  int64_t lingering_time_ns;
  int unsent_limit; /* TCP_NOTSENT_LOWAT of every connection */
  /* Content-Type: the user's types (NULL: none), looked up before the
   * built-in ones, and the charset parameter added to the textual types
   * (see mime_wants_charset); NULL for none. */
  const mime_table *mime;
  const char *charset;
  int allow_dotfiles; /* serve paths with a segment starting with '.' */
  /* Cache-Control for a file: the rule with the longest prefix that
   * matches, else one with its extension, else one with neither. */
  const httpd_cache_rule *cache;
  int ncache;
  /* The most ranges of a Range header answered, 1 to HTTP_RANGES_MAX: more
   * get the whole file. */
  int max_ranges;
  /* Serve file.br or file.gz for file to clients that accept br or gzip. */
  int precompressed;
  int autoindex; /* list a directory without index.html, else 403 */
  httpd_log *log; /* the access log, or NULL: none */
  /* HTTPS: the server's TLS configuration (tls/coro_tls.h), or NULL for
   * plain HTTP. Made by httpd_tls_new (tls_on.c; built only with the tag
   * coro_openssl). */
  struct coro_tls_config *tls;
  /* Statistics, updated atomically by every loop. */
  int64_t conns;             /* connections accepted */
  int64_t live_conns;        /* connections open now */
  int64_t live_bufs;         /* request buffers allocated now */
  int64_t requests;          /* responses sent */
  int64_t parse_work;        /* bytes the head parser examined */
  int64_t turns;             /* times a connection yielded to the others */
  uint64_t boundaries;       /* multipart boundaries made (each differs) */
  int64_t tls_handshakes;    /* TLS handshakes completed */
  int64_t tls_resumed;       /* of which resumed a session */
} httpd_conf;

/* The root a request is served from: the fd of the virtual host its host
 * names (http_host_name), else the default root; -400 when its host cannot
 * be a host name and there are virtual hosts (one site ignores Host, as
 * before). A bisection of conf->vhosts: no syscall. */
int httpd_root(const httpd_conf *conf, const http_request *req);
/* HTTPS (tls_on.c with the build tag coro_openssl, tls_off.c without: then
 * httpd_tls_new returns -ENOSYS and the rest is never called). The
 * connection calls wrap tls/coro_tls.h's, with its errors. */
struct coro_tls;
/* The server configuration of cert and key (PEM files): TLS 1.2 and 1.3,
 * ALPN http/1.1, session tickets. 0, or a negative error with *why (a
 * static or thread-local string) saying what failed. */
int httpd_tls_new(struct coro_tls_config **out, const char *cert,
                  const char *key, const char **why);
void httpd_tls_free(struct coro_tls_config *cfg);
/* The handshake on an accepted socket: 0 with *out, or a negative error. */
int httpd_tls_accept(struct coro_tls **out, int fd, httpd_conf *conf,
                     int64_t deadline);
ssize_t httpd_tls_read(struct coro_tls *t, void *buf, size_t n,
                       int64_t deadline);
ssize_t httpd_tls_write(struct coro_tls *t, const void *buf, size_t n,
                        int64_t deadline);
int httpd_tls_pending(struct coro_tls *t); /* bytes a read returns at once */
int httpd_tls_shutdown(struct coro_tls *t, int64_t deadline);
void httpd_tls_close(struct coro_tls *t); /* frees t, not its fd */

/* Makes the HTML listing of the directory fd (which it closes), whose URL
 * path is url_dir ("/a/b/"), leaving out names starting with '.' unless
 * dotfiles: 0 with *html (malloc'd; the caller frees it) and *len set, or
 * a negative errno. See autoindex.c. */
int httpd_autoindex(int fd, const char *url_dir, int dotfiles, char **html,
                    size_t *len);

/* One loop's accept coroutine's argument, and the loop's server state:
 * touched only by that loop's coroutines. */
typedef struct httpd_listener {
  httpd_conf *conf;
  int fd; /* the listening socket; the accept coroutine closes it (-1) */
  int loop; /* the loop's index, for its access log buffer */
  coro *accept_co;     /* the accept coroutine while it runs, else NULL */
  struct conn *conns;  /* the loop's open connections, for the drain */
  int draining;        /* httpd_drain_main ran: answer with Connection: close */
} httpd_listener;

/* The accept coroutine: accepts until cancelled, spawning one detached
 * coroutine per connection; closes the listener when it returns. */
void *httpd_accept_main(void *listener);

/* The access log's flusher, one per loop: hands the loop's buffer to the
 * writer each second, until cancelled. */
void *httpd_log_main(void *listener);

/* The start of a graceful stop of one loop, run as a coroutine on it:
 * cancels its accept coroutine (which closes the listener), cancels the
 * connections idle between requests (they close at once), and makes the
 * others answer the request they are reading or serving with
 * "Connection: close" and close after it. It returns at once; the caller
 * watches live_conns fall to 0, and closes the loops at its deadline. */
void *httpd_drain_main(void *listener);

#endif /* HTTPD_H */
