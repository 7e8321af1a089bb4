/* mime.c - Content-Type by file name (see mime.h).
 *
 * Both tables are arrays sorted by extension and searched by bisection:
 * about 8 string comparisons for the built-in table's 141 extensions,
 * with no hashing to keep in step with the table and no allocation. */
#include "mime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The built-in table: nginx's mime.types, the types Debian's
 * /etc/mime.types adds that web sites use (mjs, map, webmanifest, apng,
 * jxl, opus, flac, mkv, ...), with JavaScript as text/javascript (RFC
 * 9239). Sorted by strcmp of the extension: TestMimeBuiltin checks it. */
static mime_entry builtin[] = {
    {"3gp", "video/3gpp"},
    {"3gpp", "video/3gpp"},
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"ai", "application/postscript"},
    {"apng", "image/apng"},
    {"asc", "application/pgp-signature"},
    {"atom", "application/atom+xml"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "text/javascript"},
    {"conf", "text/plain"},
    {"crt", "application/x-x509-ca-cert"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"cur", "image/x-icon"},
    {"deb", "application/octet-stream"},
    {"der", "application/x-x509-ca-cert"},
    {"dll", "application/octet-stream"},
    {"dmg", "application/octet-stream"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"ear", "application/java-archive"},
    {"eot", "application/vnd.ms-fontobject"},
    {"eps", "application/postscript"},
    {"epub", "application/epub+zip"},
    {"exe", "application/octet-stream"},
    {"flac", "audio/flac"},
    {"flv", "video/x-flv"},
    {"geojson", "application/geo+json"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"heic", "image/heic"},
    {"heif", "image/heif"},
    {"htc", "text/x-component"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar"},
    {"img", "application/octet-stream"},
    {"ini", "text/plain"},
    {"iso", "application/octet-stream"},
    {"jar", "application/java-archive"},
    {"jfif", "image/jpeg"},
    {"jpe", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"kar", "audio/midi"},
    {"kml", "application/vnd.google-earth.kml+xml"},
    {"kmz", "application/vnd.google-earth.kmz"},
    {"log", "text/plain"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json"},
    {"markdown", "text/markdown"},
    {"md", "text/markdown"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript"},
    {"mkv", "video/x-matroska"},
    {"mml", "text/mathml"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpd", "application/dash+xml"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"msi", "application/octet-stream"},
    {"msm", "application/octet-stream"},
    {"msp", "application/octet-stream"},
    {"odg", "application/vnd.oasis.opendocument.graphics"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"pem", "application/x-x509-ca-cert"},
    {"pjp", "image/jpeg"},
    {"pjpeg", "image/jpeg"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"ps", "application/postscript"},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "application/x-sh"},
    {"shtml", "text/html"},
    {"sig", "application/pgp-signature"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"swf", "application/x-shockwave-flash"},
    {"tar", "application/x-tar"},
    {"text", "text/plain"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"ttc", "font/collection"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain"},
    {"vcard", "text/vcard"},
    {"vcf", "text/vcard"},
    {"vtt", "text/vtt"},
    {"war", "application/java-archive"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"wml", "text/vnd.wap.wml"},
    {"wmv", "video/x-ms-wmv"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xht", "application/xhtml+xml"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "text/xml"},
    {"xsl", "application/xslt+xml"},
    {"xslt", "application/xslt+xml"},
    {"xspf", "application/xspf+xml"},
    {"xz", "application/x-xz"},
    {"yaml", "text/yaml"},
    {"yml", "text/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

static const mime_table builtin_table = {builtin, sizeof builtin / sizeof builtin[0], NULL};

const mime_table *mime_builtin(void) { return &builtin_table; }

static const char *search(const mime_table *t, const char *ext) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ext, t->v[mid].ext);
    if (c == 0)
      return t->v[mid].type;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

const char *mime_lookup(const mime_table *user, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  /* The extensions from the longest: after each dot of the name but a
   * leading one (".profile" has none). */
  if (*base == '.')
    base++;
  for (const char *dot = strchr(base, '.'); dot; dot = strchr(dot + 1, '.')) {
    char ext[MIME_EXT_MAX + 1];
    size_t n = strlen(dot + 1);
    if (n == 0 || n > MIME_EXT_MAX)
      continue;
    for (size_t i = 0; i <= n; i++)
      ext[i] = lower(dot[1 + i]);
    const char *type = user ? search(user, ext) : NULL;
    if (!type)
      type = search(&builtin_table, ext);
    if (type)
      return type;
  }
  return NULL;
}

int mime_wants_charset(const char *type) {
  if (strchr(type, ';'))
    return 0;
  if (strncmp(type, "text/", 5) == 0 || strcmp(type, "application/javascript") == 0 ||
      strcmp(type, "application/xml") == 0)
    return 1;
  size_t n = strlen(type);
  return n > 4 && strcmp(type + n - 4, "+xml") == 0;
}

/* RFC 9110 5.6.2's tchar. */
static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A type as mime.h describes it: token "/" token, then optionally ";" and
 * visible ASCII. */
static int valid_type(const char *s) {
  if (strlen(s) > MIME_TYPE_MAX)
    return 0;
  size_t i = 0;
  while (tchar((unsigned char)s[i]))
    i++;
  if (i == 0 || s[i] != '/')
    return 0;
  size_t j = ++i;
  while (tchar((unsigned char)s[i]))
    i++;
  if (i == j)
    return 0;
  if (s[i] == '\0')
    return 1;
  if (s[i] != ';')
    return 0;
  for (; s[i]; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

static int valid_ext(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MIME_EXT_MAX || s[0] == '.' || s[n - 1] == '.')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

/* Sorts by extension, and equal ones in the order of the file, which is
 * the order of their strings in the table's copy of it. */
static int by_ext(const void *a, const void *b) {
  const mime_entry *x = a, *y = b;
  int c = strcmp(x->ext, y->ext);
  if (c)
    return c;
  return x->ext < y->ext ? -1 : x->ext > y->ext;
}

void mime_table_free(mime_table *t) {
  free(t->v);
  free(t->text);
  *t = (mime_table){0};
}

int mime_table_parse(mime_table *t, const char *text, size_t n, size_t *line) {
  *t = (mime_table){0};
  *line = 0;
  /* A copy in which the words are cut out in place: every separator and
   * line end becomes a NUL. At most one entry per two bytes. */
  char *s = malloc(n + 1);
  mime_entry *v = malloc((n / 2 + 1) * sizeof *v);
  if (!s || !v) {
    free(s);
    free(v);
    return -ENOMEM;
  }
  memcpy(s, text, n);
  s[n] = '\0';
  size_t k = 0, ln = 1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; ln++) {
    size_t e = i;
    while (e < n && s[e] != '\n')
      e++;
    size_t end = e;
    char *hash = memchr(s + i, '#', end - i);
    if (hash)
      end = (size_t)(hash - s);
    if (memchr(s + i, '\0', end - i))
      rc = -EINVAL; /* it would end a word early where no one can see */
    const char *type = NULL;
    for (size_t w = i; w < end && rc == 0;) {
      if (s[w] == ' ' || s[w] == '\t' || s[w] == '\r') {
        s[w++] = '\0';
        continue;
      }
      size_t we = w;
      while (we < end && s[we] != ' ' && s[we] != '\t' && s[we] != '\r')
        we++;
      s[we] = '\0'; /* we == end: a '\n', a '#' or the copy's NUL */
      if (!type) {
        type = s + w;
        if (!valid_type(type))
          rc = -EINVAL;
      } else if (!valid_ext(s + w)) {
        rc = -EINVAL;
      } else {
        for (char *c = s + w; *c; c++)
          *c = lower(*c);
        v[k++] = (mime_entry){s + w, type};
      }
      w = we + 1;
    }
    i = e + 1;
  }
  if (rc < 0) {
    *line = ln - 1;
    free(s);
    free(v);
    return rc;
  }
  qsort(v, k, sizeof *v, by_ext);
  /* Keep the last of each run of equal extensions. */
  size_t m = 0;
  for (size_t i = 0; i < k; i++) {
    if (m > 0 && strcmp(v[m - 1].ext, v[i].ext) == 0)
      m--;
    v[m++] = v[i];
  }
  t->v = v;
  t->n = m;
  t->text = s;
  return 0;
}
