/* output.c - one JSON object a line for each fetched page:
 * {"url":..., "final_url":..., "status":N, "depth":N, "bytes":N,
 *  "type":..., "links":N, "ms":F, "error":...}; "error" is present only
 * for a failed fetch (the text of coro_strerror) or a truncated body
 * ("truncated"). Strings are escaped as RFC 8259 requires; bytes that are
 * not valid UTF-8 cannot occur (URLs are %-escaped ASCII, types and error
 * texts ASCII).
 *
 * Contract (crawl.h): crawl_output_page, crawl_json_str.
 */
#include "crawl.h"

#include "coro.h"

#include <errno.h>

void crawl_json_str(FILE *f, const char *s) {
  putc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      putc('\\', f);
      putc(*p, f);
    } else if (*p < 0x20 || *p == 0x7f) {
      fprintf(f, "\\u%04x", *p);
    } else {
      putc(*p, f);
    }
  }
  putc('"', f);
}

int crawl_output_page(FILE *f, const crawl_page *p) {
  fputs("{\"url\":", f);
  crawl_json_str(f, p->url);
  fputs(",\"final_url\":", f);
  crawl_json_str(f, p->final_url ? p->final_url : p->url);
  fprintf(f, ",\"status\":%d,\"depth\":%d,\"bytes\":%llu,\"type\":", p->status,
          p->depth, (unsigned long long)p->bytes);
  crawl_json_str(f, p->ctype ? p->ctype : "");
  fprintf(f, ",\"links\":%d,\"ms\":%.3f", p->links, (double)p->ns / 1e6);
  if (p->err) {
    fputs(",\"error\":", f);
    crawl_json_str(f, p->strerror ? p->strerror(p->err) : coro_strerror(p->err));
  } else if (p->truncated) {
    fputs(",\"error\":\"truncated\"", f);
  }
  fputs("}\n", f);
  return ferror(f) ? -EIO : 0;
}
