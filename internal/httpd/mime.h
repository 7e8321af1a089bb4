/* mime.h - Content-Type by file name: a built-in table of the types a web
 * site serves, and a user's table in mime.types format that adds to it or
 * overrides it. Pure (no I/O), so the file parser can be fuzzed alone. */
#ifndef HTTPD_MIME_H
#define HTTPD_MIME_H

#include <stddef.h>

/* One extension (lower case, without its leading dot) and its type. */
typedef struct mime_entry {
  const char *ext;
  const char *type;
} mime_entry;

/* A table sorted by extension, each extension once. A user's table owns
 * its strings (text, one copy of the file) and its entries. */
typedef struct mime_table {
  mime_entry *v;
  size_t n;
  char *text;
} mime_table;

/* The longest extension and type a table holds; longer ones are refused
 * (a type goes into a response head of bounded size). */
#define MIME_EXT_MAX 32
#define MIME_TYPE_MAX 127

/* Parses text[0..n), a file in the mime.types format of Debian's
 * /etc/mime.types and Apache's: per line a type and the extensions that
 * have it ("image/svg+xml svg svgz"), separated by spaces or tabs; '#'
 * starts a comment; a line with a type alone is allowed and adds nothing.
 * Extensions are matched without regard to case and may hold dots
 * ("tar.gz"); when one comes twice, the later line wins. A type is a
 * token "/" token (RFC 9110 8.3.1), optionally followed by parameters
 * written without spaces ("text/html;charset=iso-8859-1"): the text is
 * sent as it is, so no byte of it may end a header line. Returns 0 with
 * *t filled (mime_table_free releases it), -EINVAL with *line set to the
 * 1-based line at fault, or -ENOMEM; *t is empty after an error. */
int mime_table_parse(mime_table *t, const char *text, size_t n, size_t *line);

void mime_table_free(mime_table *t);

/* The type of the file named by path (its last segment's extension): the
 * user's table (NULL for none) first, then the built-in one; NULL when
 * neither knows it. A name with several dots ("a.tar.gz") tries its
 * longest extension first ("tar.gz", then "gz"). No allocation. */
const char *mime_lookup(const mime_table *user, const char *path);

/* Whether a charset parameter belongs on type: text types, JavaScript,
 * and XML ("application/xml" and every "+xml" type, for which RFC 7303
 * recommends one), unless the type already has parameters. Not JSON: RFC
 * 8259 defines no charset for it (it is always UTF-8). */
int mime_wants_charset(const char *type);

/* The built-in table, for tests. */
const mime_table *mime_builtin(void);

#endif /* HTTPD_MIME_H */
