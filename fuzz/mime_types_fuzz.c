/* mime_types_fuzz.c - a libFuzzer harness for the mime.types parser and
 * the type lookup (internal/httpd/mime.c), built by `make fuzz-mime` and
 * replayed over fuzz/corpus/mime_types by `make test-fuzz-corpus`.
 *
 * It checks that:
 *   - the parse ends in 0 or -EINVAL with a line number inside the input;
 *   - an accepted table is sorted and each extension in it once, lower
 *     case, valid (tchars, no dot at either end, at most MIME_EXT_MAX);
 *     each type is at most MIME_TYPE_MAX visible ASCII bytes with a '/',
 *     safe in a header;
 *   - looking up "name.EXT" for each extension finds that entry's type,
 *     whatever the case of EXT;
 *   - the input taken as a path looks up without a read out of bounds,
 *     and whatever it finds comes from one of the two tables.
 * The input is a heap copy of exactly its length, so AddressSanitizer
 * reports a read one byte past its end.
 */
#include "../internal/httpd/mime.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static int from_table(const mime_table *t, const char *type) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].type == type)
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1);
  FUZZ_CHECK(text != NULL);
  if (size)
    memcpy(text, data, size);
  size_t lines = 1;
  for (size_t i = 0; i < size; i++)
    lines += data[i] == '\n';

  mime_table t;
  size_t line = 99;
  int rc = mime_table_parse(&t, text, size, &line);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL);
  if (rc < 0) {
    FUZZ_CHECK(line >= 1 && line <= lines);
    FUZZ_CHECK(t.v == NULL && t.n == 0 && t.text == NULL);
    free(text);
    return 0;
  }
  FUZZ_CHECK(line == 0);
  for (size_t i = 0; i < t.n; i++) {
    const char *ext = t.v[i].ext, *type = t.v[i].type;
    size_t en = strlen(ext), tn = strlen(type);
    FUZZ_CHECK(en >= 1 && en <= MIME_EXT_MAX && ext[0] != '.' && ext[en - 1] != '.');
    FUZZ_CHECK(i == 0 || strcmp(t.v[i - 1].ext, ext) < 0);
    for (size_t k = 0; k < en; k++)
      FUZZ_CHECK(ext[k] > 0x20 && ext[k] < 0x7f && !(ext[k] >= 'A' && ext[k] <= 'Z') &&
                 ext[k] != '/');
    FUZZ_CHECK(tn >= 3 && tn <= MIME_TYPE_MAX && strchr(type, '/'));
    for (size_t k = 0; k < tn; k++)
      FUZZ_CHECK(type[k] > 0x20 && type[k] < 0x7f);
    char name[MIME_EXT_MAX + 8] = "dir/f.";
    memcpy(name + 6, ext, en + 1);
    FUZZ_CHECK(mime_lookup(&t, name) == type);
    for (size_t k = 6; name[k]; k++)
      if (name[k] >= 'a' && name[k] <= 'z')
        name[k] = (char)(name[k] - 32);
    FUZZ_CHECK(mime_lookup(&t, name) == type);
    int wc = mime_wants_charset(type);
    FUZZ_CHECK(wc == 0 || wc == 1);
  }

  /* The input as a path: a NUL-terminated copy of exactly its length. */
  char *path = malloc(size + 1);
  FUZZ_CHECK(path != NULL);
  if (size)
    memcpy(path, data, size);
  path[size] = '\0';
  const char *found = mime_lookup(&t, path);
  FUZZ_CHECK(found == NULL || from_table(&t, found) || from_table(mime_builtin(), found));
  free(path);
  mime_table_free(&t);
  free(text);
  return 0;
}
