/* errors.c - messages for the client's error codes (coro_http.h). */
#include "coro_http.h"

const char *coro_http_strerror(int err) {
  switch (-err) {
  case CORO_HTTP_EURL:
    return "bad URL";
  case CORO_HTTP_EFRAMING:
    return "malformed HTTP response";
  case CORO_HTTP_EREDIRECTS:
    return "too many redirects";
  case CORO_HTTP_EHEADSIZE:
    return "response head too large";
  case CORO_HTTP_EBODYSIZE:
    return "response body too large";
  case CORO_HTTP_ENOTLS:
    return "TLS not built in: build with -tags coro_openssl";
  case CORO_HTTP_ETLS:
    return "TLS handshake or certificate verification failed";
  case CORO_HTTP_ETRUNCATED:
    return "connection closed before the response ended";
  case CORO_HTTP_ESCHEME:
    return "unsupported URL scheme (want http or https)";
  }
  return coro_strerror(err);
}
