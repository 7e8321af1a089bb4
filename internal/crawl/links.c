/* links.c - the links of an HTML page, resolved and normalised.
 *
 * Contract (crawl.h): crawl_links. Pure: no I/O; the work buffers are on
 * the stack (about 3 x CRAWL_URL_MAX plus a crawl_url); the page's base is
 * parsed once (one allocation of httpc's URL code, freed before
 * returning), each link resolved against it by urlnorm.c. Fuzzed by
 * fuzz/links_fuzz.c.
 *
 * Not a full HTML5 tokenizer: a tag is '<' and a letter, its attributes
 * are read as the HTML5 attribute states do (name up to white space, '=',
 * '/' or '>'; value double-quoted, single-quoted or up to white space or
 * '>'), comments, <!...>, <?...> and end tags are skipped, and the text of
 * script, style, textarea and title elements is skipped to its end tag so
 * that "<a href" inside a script is no link. Character references in
 * values are decoded: &#N; &#xH; (the ';' optional) and the named ones
 * that appear in URLs (amp, lt, gt, quot, apos, nbsp). Values are trimmed
 * of ASCII white space, as the URL parser of HTML does.
 *
 * The document's base is its first <base href> wherever it is (as in
 * HTML, it applies to links before it too), resolved against the page.
 */
#include "crawl.h"

#include "coro_http.h"

#include <errno.h>
#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }
static int is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
static int is_alpha(int c) { return lower(c) >= 'a' && lower(c) <= 'z'; }

/* Does s[0..n) start with word, ignoring case? */
static int starts_ci(const char *s, size_t n, const char *word) {
  size_t k = strlen(word);
  if (n < k) return 0;
  for (size_t i = 0; i < k; i++)
    if (lower((unsigned char)s[i]) != word[i]) return 0;
  return 1;
}

static int eq_ci(const char *s, size_t n, const char *word) {
  return n == strlen(word) && starts_ci(s, n, word);
}

static size_t put_utf8(char *o, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decode the character references of v[0..n) into o (cap bytes) and trim
 * white space; returns the length, or -1 if it does not fit. */
static long decode(const char *v, size_t n, char *o, size_t cap) {
  static const struct {
    const char *name;
    char c;
  } named[] = {{"amp", '&'}, {"lt", '<'},    {"gt", '>'},
               {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '}};
  while (n > 0 && is_space((unsigned char)v[0])) v++, n--;
  while (n > 0 && is_space((unsigned char)v[n - 1])) n--;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (k + 4 >= cap) return -1;
    if (v[i] != '&') {
      o[k++] = v[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < n && v[j] == '#') {
      j++;
      int hex = j < n && lower((unsigned char)v[j]) == 'x';
      if (hex) j++;
      size_t ds = j;
      unsigned long cp = 0;
      for (; j < n; j++) {
        int c = lower((unsigned char)v[j]), d;
        if (c >= '0' && c <= '9')
          d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
          d = c - 'a' + 10;
        else
          break;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        if (cp > 0x10FFFF) cp = 0x110000;
      }
      if (j == ds) { /* "&#" with no digits: literal */
        o[k++] = v[i++];
        continue;
      }
      if (j < n && v[j] == ';') j++;
      k += put_utf8(o + k, cp);
      i = j;
      continue;
    }
    int done = 0;
    for (size_t t = 0; t < sizeof named / sizeof named[0]; t++) {
      size_t nl = strlen(named[t].name);
      if (j + nl <= n && memcmp(v + j, named[t].name, nl) == 0) {
        j += nl;
        if (j < n && v[j] == ';') j++;
        o[k++] = named[t].c;
        i = j;
        done = 1;
        break;
      }
    }
    if (!done) o[k++] = v[i++];
  }
  o[k] = '\0';
  return (long)k;
}

/* One parsed tag's attributes of interest. */
typedef struct tag {
  const char *name;
  size_t name_n;
  const char *href, *src, *rel;
  size_t href_n, src_n, rel_n;
} tag;

/* Parse the tag whose name starts at s[i]; fills t and returns the index
 * after its '>', or (size_t)-1 when the input ends first (HTML drops a
 * tag cut by the end of the file). */
static size_t parse_tag(const char *s, size_t len, size_t i, tag *t) {
  memset(t, 0, sizeof *t);
  size_t ns = i;
  while (i < len && !is_space((unsigned char)s[i]) && s[i] != '/' &&
         s[i] != '>')
    i++;
  t->name = s + ns;
  t->name_n = i - ns;
  for (;;) {
    while (i < len && (is_space((unsigned char)s[i]) || s[i] == '/')) i++;
    if (i >= len) return (size_t)-1;
    if (s[i] == '>') return i + 1;
    size_t as = i;
    i++; /* a name may start with '=' */
    while (i < len && !is_space((unsigned char)s[i]) && s[i] != '/' &&
           s[i] != '>' && s[i] != '=')
      i++;
    size_t an = i - as;
    while (i < len && is_space((unsigned char)s[i])) i++;
    const char *v = NULL;
    size_t vn = 0;
    if (i < len && s[i] == '=') {
      i++;
      while (i < len && is_space((unsigned char)s[i])) i++;
      if (i < len && (s[i] == '"' || s[i] == '\'')) {
        char q = s[i++];
        const char *e = memchr(s + i, q, len - i);
        size_t ve = e ? (size_t)(e - s) : len;
        v = s + i;
        vn = ve - i;
        if (!e) return (size_t)-1;
        i = ve + 1;
      } else {
        size_t vs = i;
        while (i < len && !is_space((unsigned char)s[i]) && s[i] != '>') i++;
        v = s + vs;
        vn = i - vs;
      }
    }
    /* The first of each attribute counts, as in HTML. */
    if (v && eq_ci(s + as, an, "href") && !t->href) {
      t->href = v;
      t->href_n = vn;
    } else if (v && eq_ci(s + as, an, "src") && !t->src) {
      t->src = v;
      t->src_n = vn;
    } else if (v && eq_ci(s + as, an, "rel") && !t->rel) {
      t->rel = v;
      t->rel_n = vn;
    }
  }
}

/* Is rel one that names no document to crawl? */
static int rel_skipped(const char *r, size_t n) {
  static const char *const skip[] = {"preconnect", "dns-prefetch"};
  for (size_t i = 0; i < n;) {
    while (i < n && is_space((unsigned char)r[i])) i++;
    size_t ws = i;
    while (i < n && !is_space((unsigned char)r[i])) i++;
    for (size_t k = 0; k < sizeof skip / sizeof skip[0]; k++)
      if (eq_ci(r + ws, i - ws, skip[k])) return 1;
  }
  return 0;
}

/* The index after the end tag "</name" of a raw-text element, or len. */
static size_t skip_raw(const char *s, size_t len, size_t i, const char *name) {
  while (i < len) {
    const char *lt = memchr(s + i, '<', len - i);
    if (!lt) return len;
    i = (size_t)(lt - s);
    if (i + 1 < len && s[i + 1] == '/' &&
        starts_ci(s + i + 2, len - i - 2, name)) {
      const char *gt = memchr(s + i, '>', len - i);
      return gt ? (size_t)(gt - s) + 1 : len;
    }
    i++;
  }
  return len;
}

/* Walk the tags of html; for each, call visit. Stops when visit returns
 * non-zero and returns that. */
typedef int (*visit_fn)(void *arg, const tag *t);
static int walk(const char *s, size_t len, visit_fn visit, void *arg) {
  static const char *const raw[] = {"script", "style", "textarea", "title"};
  size_t i = 0;
  while (i < len) {
    const char *lt = memchr(s + i, '<', len - i);
    if (!lt) break;
    i = (size_t)(lt - s) + 1;
    if (i >= len) break;
    if (s[i] == '!') {
      if (i + 2 < len && s[i + 1] == '-' && s[i + 2] == '-') {
        const char *e = memmem(s + i + 3, len - i - 3, "-->", 3);
        i = e ? (size_t)(e - s) + 3 : len;
      } else {
        const char *gt = memchr(s + i, '>', len - i);
        i = gt ? (size_t)(gt - s) + 1 : len;
      }
      continue;
    }
    if (s[i] == '/' || s[i] == '?') {
      const char *gt = memchr(s + i, '>', len - i);
      i = gt ? (size_t)(gt - s) + 1 : len;
      continue;
    }
    if (!is_alpha((unsigned char)s[i])) continue;
    tag t;
    i = parse_tag(s, len, i, &t);
    if (i == (size_t)-1) break;
    int rc = visit(arg, &t);
    if (rc) return rc;
    for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++)
      if (eq_ci(t.name, t.name_n, raw[k])) {
        i = skip_raw(s, len, i, raw[k]);
        break;
      }
  }
  return 0;
}

typedef struct links_state {
  coro_url base; /* the page, or its <base href> */
  crawl_link_fn fn;
  void *arg;
  int count;
  crawl_url u;          /* the link being reported */
  char buf[CRAWL_URL_MAX];
} links_state;

static int visit_base(void *arg, const tag *t) {
  links_state *st = arg;
  if (!eq_ci(t->name, t->name_n, "base") || !t->href) return 0;
  long n = decode(t->href, t->href_n, st->buf, sizeof st->buf);
  coro_url b;
  /* A base must be a usable http(s) URL: check it as a link would be. */
  if (n >= 0 && crawl_url_resolve_in(&st->u, &st->base, st->buf, (size_t)n) == 0 &&
      coro_url_parse(&b, st->u.buf) == 0) {
    coro_url_free(&st->base);
    st->base = b;
  }
  return 1; /* only the first base counts */
}

static int visit_link(void *arg, const tag *t) {
  links_state *st = arg;
  const char *v = NULL;
  size_t vn = 0;
  const char *nm = t->name;
  size_t nn = t->name_n;
  if (eq_ci(nm, nn, "a") || eq_ci(nm, nn, "area")) {
    v = t->href;
    vn = t->href_n;
  } else if (eq_ci(nm, nn, "link")) {
    if (t->rel && rel_skipped(t->rel, t->rel_n)) return 0;
    v = t->href;
    vn = t->href_n;
  } else if (eq_ci(nm, nn, "frame") || eq_ci(nm, nn, "iframe")) {
    v = t->src;
    vn = t->src_n;
  }
  if (!v) return 0;
  long n = decode(v, vn, st->buf, sizeof st->buf);
  if (n < 0) return 0;
  if (crawl_url_resolve_in(&st->u, &st->base, st->buf, (size_t)n) < 0)
    return 0;
  st->count++;
  int rc = st->fn(st->arg, &st->u);
  return rc < 0 ? rc : 0;
}

/* A quick look for "<base" before tokenizing for it. */
static int has_base(const char *s, size_t len) {
  for (size_t i = 0; i + 5 <= len;) {
    const char *lt = memchr(s + i, '<', len - i);
    if (!lt) return 0;
    i = (size_t)(lt - s) + 1;
    if (starts_ci(s + i, len - i, "base")) return 1;
  }
  return 0;
}

int crawl_links(const char *html, size_t len, const crawl_url *page,
                crawl_link_fn fn, void *arg) {
  links_state st;
  int rc = coro_url_parse(&st.base, page->buf);
  if (rc < 0) return rc == -ENOMEM ? rc : -EINVAL;
  st.fn = fn;
  st.arg = arg;
  st.count = 0;
  if (has_base(html, len)) walk(html, len, visit_base, &st);
  rc = walk(html, len, visit_link, &st);
  coro_url_free(&st.base);
  return rc < 0 ? rc : st.count;
}
