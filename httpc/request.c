/* request.c - request heads: the request line, the client's own fields
 * (Host, User-Agent, Accept, Content-Length, Authorization from URL
 * credentials) and the caller's, validated so that no caller's value can
 * split the request (no CR, LF or NUL; names are tokens). */
#include "http_internal.h"

#include "coro_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int coro__http_reserved_field(const char *name) {
  /* The client frames the message and manages the connection itself. */
  return !strcasecmp(name, "host") || !strcasecmp(name, "content-length") ||
         !strcasecmp(name, "transfer-encoding") ||
         !strcasecmp(name, "connection");
}

int coro__http_cred_field(const char *name) {
  return !strcasecmp(name, "authorization") || !strcasecmp(name, "cookie") ||
         !strcasecmp(name, "proxy-authorization");
}

int coro__http_check_fields(const coro_http_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *k = h[i].name, *v = h[i].value;
    if (!k || !v || !*k || coro__http_reserved_field(k))
      return -EINVAL;
    for (const char *p = k; *p; p++)
      if (!is_tchar((unsigned char)*p))
        return -EINVAL;
    for (const char *p = v; *p; p++)
      if (*p == '\r' || *p == '\n')
        return -EINVAL;
  }
  return 0;
}

static int is_token(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!is_tchar((unsigned char)*s))
      return 0;
  return 1;
}

static int has_field(const coro_http_header *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcasecmp(h[i].name, name))
      return 1;
  return 0;
}

/* Base64 of s (RFC 4648), for Basic credentials. */
static size_t b64(const unsigned char *s, size_t n, char *out) {
  static const char t[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n)
      v |= s[i + 2];
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
  return o;
}

/* Percent-decode s into out (at least strlen(s) + 1 bytes). */
static size_t pct_decode(const char *s, char *out) {
  size_t o = 0;
  for (; *s; s++) {
    int a, b;
    if (*s == '%' && s[1] && s[2] &&
        (a = s[1] <= '9' ? s[1] - '0' : (s[1] | 0x20) - 'a' + 10) >= 0 && a < 16 &&
        (b = s[2] <= '9' ? s[2] - '0' : (s[2] | 0x20) - 'a' + 10) >= 0 && b < 16) {
      out[o++] = (char)(a * 16 + b);
      s += 2;
    } else {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
  return o;
}

ssize_t coro__http_request_head(const coro_http_client *c, const char *method,
                                const coro_url *u, const coro_http_header *h,
                                size_t nh, int drop_creds, int has_body,
                                size_t body_len, char **out) {
  *out = NULL;
  if (!is_token(method))
    return -EINVAL;
  size_t cap = strlen(method) + strlen(u->target) + strlen(u->host) + 256;
  const char *ua = c->o.user_agent ? c->o.user_agent : "coro-http/0.1";
  cap += strlen(ua);
  if (u->userinfo)
    cap += strlen(u->userinfo) * 2 + 32;
  for (size_t i = 0; i < nh; i++)
    cap += strlen(h[i].name) + strlen(h[i].value) + 4;
  char *b = coro__malloc(cap + 1);
  if (!b)
    return -ENOMEM;
  /* Appends without snprintf: this runs once per request, and the
   * printf machinery was a tenth of the client's user time. cap holds
   * everything (counted above). */
  size_t n = 0;
#define PUT(s)                                                               \
  do {                                                                       \
    size_t l_ = strlen(s);                                                   \
    memcpy(b + n, (s), l_);                                                  \
    n += l_;                                                                 \
  } while (0)
  int dport = !strcmp(u->scheme, "https") ? 443 : 80;
  int v6 = strchr(u->host, ':') != NULL;
  PUT(method);
  PUT(" ");
  PUT(u->target);
  PUT(" HTTP/1.1\r\nHost: ");
  if (v6)
    PUT("[");
  PUT(u->host);
  if (v6)
    PUT("]");
  if (u->port != dport) {
    PUT(":");
    n = (size_t)(coro__put_u64(b + n, b + cap, (uint64_t)u->port) - b);
  }
  PUT("\r\n");
  if (*ua && !has_field(h, nh, "user-agent")) {
    PUT("User-Agent: ");
    PUT(ua);
    PUT("\r\n");
  }
  if (!has_field(h, nh, "accept"))
    PUT("Accept: */*\r\n");
  if (u->userinfo && !drop_creds && !has_field(h, nh, "authorization")) {
    size_t ul = strlen(u->userinfo);
    char *plain = coro__malloc(ul + 1), *enc = coro__malloc(ul * 2 + 8);
    if (!plain || !enc) {
      free(plain);
      free(enc);
      free(b);
      return -ENOMEM;
    }
    size_t pl = pct_decode(u->userinfo, plain);
    b64((const unsigned char *)plain, pl, enc);
    PUT("Authorization: Basic ");
    PUT(enc);
    PUT("\r\n");
    free(plain);
    free(enc);
  }
  if (has_body) {
    PUT("Content-Length: ");
    n = (size_t)(coro__put_u64(b + n, b + cap, (uint64_t)body_len) - b);
    PUT("\r\n");
  }
  for (size_t i = 0; i < nh; i++) {
    if (drop_creds && coro__http_cred_field(h[i].name))
      continue;
    PUT(h[i].name);
    PUT(": ");
    PUT(h[i].value);
    PUT("\r\n");
  }
  PUT("\r\n");
#undef PUT
  *out = b;
  return (ssize_t)n;
}
