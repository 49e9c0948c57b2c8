/*
 * bench/c/bench.c: the C figures of scripts/bench (issue 8, figure 2).
 *
 *   bench [--smoke]
 *
 * Each figure compares a library call with the FFI floor, mapi_logoff_noop: an exported Rust
 * function that does nothing, taking the same arguments as mapi_logoff_decide, called the
 * same way (through the shared library's PLT). All sides run in alternating rounds (the
 * order rotating from round to round) so that the noise of a shared machine hits them
 * alike; a ratio is the median of the per-round ratios.
 *
 * The store cycle is measured in the default configuration (c.store_cycle: cross-process
 * sharing on, the machine registry in the directory the library picks) and, as a third side
 * of the same rounds against the same floor, with cross-process sharing switched off
 * (c.store_cycle_cross_process_off).
 *
 * Prints one JSON object per figure on stdout, as bench/report.py reads them.
 */
#define _POSIX_C_SOURCE 200809L
#include <mapi_logoff.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_INPUTS 64 /* a power of two: inputs are picked with i & (N_INPUTS - 1) */
#define MAX_LIBS 2  /* library loops measured against one floor */

static uint32_t in_flags[N_INPUTS], in_activity[N_INPUTS], in_context[N_INPUTS];
static mapi_logoff_spooler *spooler_default;           /* the default configuration */
static mapi_logoff_spooler *spooler_cross_process_off; /* cross-process sharing off */
static volatile uint32_t sink;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, int32_t hr) {
  fprintf(stderr, "bench: %s failed: %s\n", what, mapi_logoff_error_name(hr));
  exit(1);
}

/* Every mode, with every single activity bit and none, alone and shared: all valid. */
static void make_inputs(void) {
  static const uint32_t modes[] = {LOGOFF_NO_WAIT, LOGOFF_ORDERLY, LOGOFF_PURGE, LOGOFF_ABORT,
                                   LOGOFF_QUIET};
  static const uint32_t activities[] = {0, LOGOFF_INBOUND, LOGOFF_OUTBOUND, LOGOFF_OUTBOUND_QUEUE,
                                        LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE};
  for (int i = 0; i < N_INPUTS; i++) {
    in_flags[i] = modes[i % 5];
    in_activity[i] = activities[(i / 5) % 5];
    in_context[i] = (i / 25) % 2 ? MAPI_LOGOFF_DECIDE_SHARED : 0;
    mapi_logoff_decision d;
    int32_t hr = mapi_logoff_decide(in_flags[i], in_activity[i], in_context[i], &d);
    if (hr != S_OK) die("mapi_logoff_decide of a valid input", hr);
  }
}

/* The loops: one call (or cycle) per iteration, inputs varied like a real caller's. */

static void loop_floor(long n) {
  mapi_logoff_decision d;
  int32_t acc = 0;
  for (long i = 0; i < n; i++) {
    long k = i & (N_INPUTS - 1);
    acc |= mapi_logoff_noop(in_flags[k], in_activity[k], in_context[k], &d);
  }
  sink = (uint32_t)acc;
}

static void loop_decide(long n) {
  mapi_logoff_decision d;
  int32_t acc = 0;
  uint32_t out = 0;
  for (long i = 0; i < n; i++) {
    long k = i & (N_INPUTS - 1);
    acc |= mapi_logoff_decide(in_flags[k], in_activity[k], in_context[k], &d);
    out ^= d.out_flags;
  }
  sink = (uint32_t)acc ^ out;
}

/* The floor of a store cycle: three calls, as the cycle makes three. */
static void loop_floor_x3(long n) {
  mapi_logoff_decision d;
  int32_t acc = 0;
  for (long i = 0; i < n; i++) {
    acc |= mapi_logoff_noop(0, 0, 0, &d);
    acc |= mapi_logoff_noop(LOGOFF_NO_WAIT, 0, 0, &d);
    acc |= mapi_logoff_noop(0, 0, 0, &d);
  }
  sink = (uint32_t)acc;
}

/* open -> StoreLogoff(NO_WAIT) -> final release, on an idle store. */
static void cycle(mapi_logoff_spooler *spooler, long n) {
  uint32_t acc = 0;
  for (long i = 0; i < n; i++) {
    mapi_logoff_store *store;
    int32_t hr = mapi_logoff_store_open(spooler, "inbox", &store);
    if (hr != S_OK) die("mapi_logoff_store_open", hr);
    uint32_t flags = LOGOFF_NO_WAIT;
    hr = mapi_logoff_store_logoff(store, &flags);
    if (hr != S_OK) die("mapi_logoff_store_logoff", hr);
    acc ^= flags ^ mapi_logoff_store_release(store);
  }
  sink = acc;
}

static void loop_cycle(long n) { cycle(spooler_default, n); }

static void loop_cycle_cross_process_off(long n) { cycle(spooler_cross_process_off, n); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double quantile(double *v, int n, double q) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double pos = q * (n - 1);
  int lo = (int)pos;
  int hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

/* Runs `floor` and each of the `n_libs` library loops in alternating rounds of `n`
   iterations, the order rotating from round to round (the floor first in round 0); prints
   one figure per library loop, figures[k] for libs[k], each against the same floor. */
static void measure(const char *const *figures, const char *floor_desc, void (*floor)(long),
                    void (*const *libs)(long), int n_libs, long n, int rounds) {
  int sides = n_libs + 1; /* side 0 is the floor, side k + 1 is libs[k] */
  double *t[MAX_LIBS + 1], *r[MAX_LIBS];
  if (n_libs < 1 || n_libs > MAX_LIBS) die("measure: n_libs", 0);
  for (int s = 0; s < sides; s++) {
    t[s] = calloc((size_t)rounds, sizeof *t[s]);
    if (!t[s]) die("calloc", 0);
  }
  for (int k = 0; k < n_libs; k++) {
    r[k] = calloc((size_t)rounds, sizeof *r[k]);
    if (!r[k]) die("calloc", 0);
  }
  floor(n / 4 + 1); /* warm up every side */
  for (int k = 0; k < n_libs; k++) libs[k](n / 4 + 1);
  for (int i = 0; i < rounds; i++) {
    for (int j = 0; j < sides; j++) {
      int s = (j + i) % sides;
      double t0 = now_ns();
      (s == 0 ? floor : libs[s - 1])(n);
      t[s][i] = (now_ns() - t0) / (double)n;
    }
    for (int k = 0; k < n_libs; k++) r[k][i] = t[k + 1][i] / t[0][i];
  }
  double floor_ns = quantile(t[0], rounds, 0.5);
  for (int k = 0; k < n_libs; k++) {
    double ratio = quantile(r[k], rounds, 0.5), q1 = quantile(r[k], rounds, 0.25),
           q3 = quantile(r[k], rounds, 0.75);
    printf("{\"figure\":\"%s\",\"lib_ns\":%.2f,\"floor_ns\":%.2f,\"ratio\":%.3f,"
           "\"ratio_q1\":%.3f,\"ratio_q3\":%.3f,\"rounds\":%d,\"per_round\":%ld,"
           "\"floor\":\"%s\"}\n",
           figures[k], quantile(t[k + 1], rounds, 0.5), floor_ns, ratio, q1, q3, rounds, n,
           floor_desc);
  }
  fflush(stdout);
  for (int s = 0; s < sides; s++) free(t[s]);
  for (int k = 0; k < n_libs; k++) free(r[k]);
}

int main(int argc, char **argv) {
  int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
  int rounds = smoke ? 5 : 61;
  make_inputs();

  /* The default configuration: no options. The profile is this process's own, so that
     another run of this harness at the same time shares no store with it. */
  char profile[64];
  snprintf(profile, sizeof profile, "bench-c-%ld", (long)getpid());
  int32_t hr = mapi_logoff_spooler_new(profile, &spooler_default);
  if (hr != S_OK) die("mapi_logoff_spooler_new", hr);
  /* And the same with cross-process sharing switched off (no machine registry). */
  mapi_logoff_spooler_options *options;
  hr = mapi_logoff_spooler_options_new(&options);
  if (hr != S_OK) die("mapi_logoff_spooler_options_new", hr);
  hr = mapi_logoff_spooler_options_set_cross_process(options, false);
  if (hr != S_OK) die("mapi_logoff_spooler_options_set_cross_process", hr);
  hr = mapi_logoff_spooler_new_with_options("bench-c", options, &spooler_cross_process_off);
  if (hr != S_OK) die("mapi_logoff_spooler_new_with_options", hr);
  mapi_logoff_spooler_options_free(options);

  static const char *const decide_fig[] = {"c.decide"};
  static void (*const decide_lib[])(long) = {loop_decide};
  measure(decide_fig, "mapi_logoff_noop with the same arguments", loop_floor, decide_lib, 1,
          smoke ? 20000 : 400000, rounds);
  static const char *const cycle_fig[] = {"c.store_cycle", "c.store_cycle_cross_process_off"};
  static void (*const cycle_lib[])(long) = {loop_cycle, loop_cycle_cross_process_off};
  measure(cycle_fig, "3 x mapi_logoff_noop", loop_floor_x3, cycle_lib, 2, smoke ? 2000 : 40000,
          rounds);

  mapi_logoff_spooler_free(spooler_default);
  mapi_logoff_spooler_free(spooler_cross_process_off);
  return 0;
}
