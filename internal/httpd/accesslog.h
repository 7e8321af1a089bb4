/* accesslog.h - coro httpd's access log: lines in nginx's common or
 * combined format, gathered per loop in 64 KiB buffers that a writer
 * thread writes, so that a slow disk never stalls a loop. */
#ifndef HTTPD_ACCESSLOG_H
#define HTTPD_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

#define HTTPD_LOG_BUF (64 * 1024) /* a loop's buffer: written when full */
/* Buffers handed to the writer and not yet written, in all: beyond it a
 * full buffer's lines are dropped (counted), not queued. 4 MiB. */
#define HTTPD_LOG_QUEUE 64

typedef struct httpd_log httpd_log;

/* Opens the log: path, appended to (created 0644), or NULL for stdout;
 * combined: the combined format, else common; nloops buffers. Starts the
 * writer thread. 0 with *out set, or a negative errno. */
int httpd_log_open(httpd_log **out, const char *path, int combined,
                   int nloops);

/* Hands every loop's buffer to the writer (even when it is behind: the
 * closer waits for it anyway), lets it write everything and stop, and
 * frees the log. The loops must have stopped. */
void httpd_log_close(httpd_log *lg);

/* Makes the writer reopen the file before its next write (log rotation:
 * rename the file, then call this). Thread-safe, async: 0, or a negative
 * errno when the last reopen failed (the writer kept the old file). */
int httpd_log_reopen(httpd_log *lg);

/* Lines dropped (the writer had fallen behind, no memory for a buffer,
 * or a write failed: a full disk), and lines written. */
int64_t httpd_log_dropped(httpd_log *lg);
int64_t httpd_log_written(httpd_log *lg);

/* Writes a line for one response into loop's buffer (on that loop's
 * thread): the client's address, the request, its status and the body
 * bytes sent. */
void httpd_log_request(httpd_log *lg, int loop, const char *addr,
                       const http_request *req, int status, uint64_t sent);

/* Hands loop's buffer to the writer if it holds lines (on its thread). */
void httpd_log_flush(httpd_log *lg, int loop);

/* Escapes s[0..n) as nginx's log does: bytes below 0x20, '"', '\\' and
 * from 0x7f on as \xHH. Writes at most cap bytes; returns the length. */
size_t httpd_log_escape(const char *s, size_t n, char *out, size_t cap);

#endif /* HTTPD_ACCESSLOG_H */
