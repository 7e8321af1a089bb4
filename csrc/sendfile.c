/* sendfile.c - coro_sendfile: copy a file range to a socket or pipe from a
 * coroutine, with sendfile(2) where the kernel has it, else (or when
 * $CORO_SENDFILE is "rw", so that the fallback is tested on Linux too) with
 * read and write through a heap buffer.
 *
 * SIGPIPE: sendfile cannot take MSG_NOSIGNAL. coro_loop_new blocks SIGPIPE
 * on the loop thread (poll.c), so a peer that hung up makes sendfile fail
 * with EPIPE instead of killing the process, and the SIGPIPE left pending
 * on the thread is discarded right after with coro__sigpipe_drain.
 */
#include "coro_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

/* The fallback's buffer: on the heap, since in SHARED stack mode a large
 * buffer on the coroutine's stack would be copied at every switch. */
#define RW_BUF (64 * 1024)

/* The most one sendfile call is asked for (Linux caps it near 2 GiB). */
#define SF_CHUNK ((size_t)1 << 30)

static ssize_t sendfile_rw(int out_fd, int in_fd, int64_t *offset,
                           size_t count, int64_t deadline) {
  char *buf = coro__malloc(RW_BUF);
  if (!buf)
    return -ENOMEM;
  size_t sent = 0;
  ssize_t rc = 0;
  while (sent < count) {
    size_t want = count - sent < RW_BUF ? count - sent : RW_BUF;
    ssize_t r = offset ? coro__pread(in_fd, buf, want, (off_t)*offset)
                       : coro__read(in_fd, buf, want);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      break;
    }
    if (r == 0)
      break; /* end of file */
    /* Write the block, counting every byte that went out, so that an
     * error reports exact progress (as sendfile(2) does). */
    ssize_t done = 0;
    while (done < r) {
      ssize_t w = coro_write(out_fd, buf + done, (size_t)(r - done), deadline);
      if (w < 0) {
        rc = w;
        break;
      }
      done += w;
    }
    if (offset)
      *offset += done;
    else if (done < r) /* the caller resumes from the file position */
      (void)lseek(in_fd, -(off_t)(r - done), SEEK_CUR);
    sent += (size_t)done;
    if (rc < 0)
      break;
  }
  free(buf);
  return rc < 0 ? rc : (ssize_t)sent;
}

static int use_rw(void) {
  const char *e = getenv("CORO_SENDFILE");
  return e && strcmp(e, "rw") == 0;
}

ssize_t coro_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count,
                      int64_t deadline) {
  if (out_fd < 0 || in_fd < 0)
    return -EBADF;
  if (offset && *offset < 0)
    return -EINVAL;
#ifdef __linux__
  if (!use_rw()) {
    size_t sent = 0;
    while (sent < count) {
      size_t want = count - sent < SF_CHUNK ? count - sent : SF_CHUNK;
      off_t off = offset ? (off_t)*offset : 0;
      ssize_t n = coro__sendfile(out_fd, in_fd, offset ? &off : NULL, want);
      if (n > 0) {
        if (offset)
          *offset = off;
        sent += (size_t)n;
        continue;
      }
      if (n == 0)
        break; /* end of file */
      int err = errno;
      if (err == EINTR)
        continue;
      if ((err == EINVAL || err == ENOSYS) && sent == 0)
        return sendfile_rw(out_fd, in_fd, offset, count, deadline);
      if (err != EAGAIN) {
        if (err == EPIPE)
          coro__sigpipe_drain();
        return -err;
      }
      if (deadline == 0)
        return -ETIMEDOUT;
      int rc = coro_fd_wait(out_fd, CORO_POLLOUT, deadline);
      if (rc < 0)
        return rc;
    }
    return (ssize_t)sent;
  }
#endif
  return sendfile_rw(out_fd, in_fd, offset, count, deadline);
}
