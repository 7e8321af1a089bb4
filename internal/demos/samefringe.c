/* samefringe.c - the same-fringe problem solved with generator coroutines.
 *
 * Two trees have the same fringe when their leaves, read left to right, are
 * equal, whatever the trees' shapes. Flattening both trees first costs memory
 * proportional to their size; walking both in lock step needs two recursive
 * walks suspended at once, which is exactly what coroutines give: each walk
 * is a plain recursive function running on its own stack, and it hands each
 * leaf to the comparing coroutine with coro_transfer. The comparison stops
 * at the first difference without walking the rest of either tree.
 *
 * The comparing coroutine is spawned on a loop; the two walks are created
 * coroutines (coro_create) that run only when it transfers to them, and
 * they answer through coro_caller(), the way back for a generator.
 */
#include "demos.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/* A generator's state. It lives in heap memory, never on a stack, so
 * SHARED mode may move stacks freely. */
typedef struct walker {
  const demo_sf_node *nodes;
  int32_t root;
} walker;

/* Yield every leaf under node i, left to right. The recursion is the point:
 * the walk's position is kept on the generator's own stack between leaves.
 * Returns 0, or the negative errno of a failed transfer. */
static int walk(const demo_sf_node *nodes, int32_t i) {
  const demo_sf_node *n = &nodes[i];
  if (n->first_child < 0) {
    /* The value handed over is the node's address (C memory), so the
     * comparer reads the leaf without touching this stack. */
    int rc = coro_transfer(coro_caller(), (void *)n, NULL);
    return rc < 0 ? rc : 0;
  }
  for (int32_t c = n->first_child; c >= 0; c = nodes[c].next_sibling) {
    int rc = walk(nodes, c);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* A generator's entry: walk the tree, then finish. Finishing hands NULL to
 * the comparer, which marks the end of this fringe. */
static void *walker_main(void *arg) {
  const walker *w = arg;
  (void)walk(w->nodes, w->root);
  return NULL;
}

/* Resume generator g for its next leaf. Returns 0 with *leaf set, 1 when the
 * generator has finished (its fringe has ended), or a negative errno. */
static int next_leaf(coro *g, const demo_sf_node **leaf) {
  void *v = NULL;
  int rc = coro_transfer(g, NULL, &v);
  if (rc < 0)
    return rc;
  *leaf = v;
  return rc == 1 || v == NULL ? 1 : 0;
}

/* Free generator g: join it if it has finished; else free it suspended,
 * abandoning its frames, which is safe because a walk holds nothing but its
 * stack. */
static int release(coro *g) {
  return coro_done(g) ? coro_join(g, 0, NULL) : coro_free(g);
}

void *demo_samefringe_main(void *arg) {
  demo_sf_job *job = arg;
  coro *ga = NULL, *gb = NULL;
  coro_opts oa = {.name = "fringe-a"};
  coro_opts ob = {.name = "fringe-b"};
  int err = 0;

  job->npairs = 0;
  job->same = 0;
  /* The generators' arguments must not live on this coroutine's stack:
   * in SHARED mode it is copied away while a generator runs. */
  walker *w = malloc(2 * sizeof *w);
  if (w == NULL) {
    job->err = -ENOMEM;
    return NULL;
  }
  w[0] = (walker){.nodes = job->a_nodes, .root = job->a_root};
  w[1] = (walker){.nodes = job->b_nodes, .root = job->b_root};
  err = coro_create(&ga, walker_main, &w[0], &oa);
  if (err == 0)
    err = coro_create(&gb, walker_main, &w[1], &ob);

  /* Pull one leaf from each generator at a time and record the pair, until
   * a pair differs or both fringes end together. */
  while (err == 0) {
    const demo_sf_node *x = NULL, *y = NULL;
    int ra = next_leaf(ga, &x);
    if (ra < 0) {
      err = ra;
      break;
    }
    int rb = next_leaf(gb, &y);
    if (rb < 0) {
      err = rb;
      break;
    }
    if (ra == 1 && rb == 1) {
      job->same = 1;
      break;
    }
    demo_sf_pair *p = &job->pairs[job->npairs++];
    p->a_ended = (uint8_t)ra;
    p->b_ended = (uint8_t)rb;
    p->a = ra ? 0 : x->value;
    p->b = rb ? 0 : y->value;
    if (ra || rb || x->value != y->value)
      break;
  }

  int rc;
  if (ga != NULL && (rc = release(ga)) < 0 && err == 0)
    err = rc;
  if (gb != NULL && (rc = release(gb)) < 0 && err == 0)
    err = rc;
  free(w);
  job->err = err;
  return NULL;
}
