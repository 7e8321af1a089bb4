/* The C tests' blocking client, compiled here for the Go tests (cgo
 * compiles only its package's own folder). */
#include "../../../csrc/test/hooks_client.c"
