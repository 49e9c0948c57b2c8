/*
 * bench/c/bench.c: the C figures of scripts/bench (issue 8, figure 2).
 *
 *   bench [--smoke]
 *
 * Each figure compares a library call with the FFI floor, mapi_logoff_noop: an exported Rust
 * function that does nothing, taking the same arguments as mapi_logoff_decide, called the
 * same way (through the shared library's PLT). Both sides run in alternating rounds
 * (floor first in even rounds, library first in odd ones) so that the noise of a shared
 * machine hits both alike; the ratio is the median of the per-round ratios.
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

#define N_INPUTS 64 /* a power of two: inputs are picked with i & (N_INPUTS - 1) */

static uint32_t in_flags[N_INPUTS], in_activity[N_INPUTS], in_context[N_INPUTS];
static mapi_logoff_spooler *spooler;
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
static void loop_cycle(long n) {
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

/* Runs `floor` and `lib` in alternating rounds of `n` iterations; prints the figure. */
static void measure(const char *figure, const char *floor_desc, void (*floor)(long),
                    void (*lib)(long), long n, int rounds) {
  double *f = calloc((size_t)rounds, sizeof *f), *l = calloc((size_t)rounds, sizeof *l);
  double *r = calloc((size_t)rounds, sizeof *r);
  if (!f || !l || !r) die("calloc", 0);
  floor(n / 4 + 1); /* warm up both sides */
  lib(n / 4 + 1);
  for (int i = 0; i < rounds; i++) {
    for (int side = 0; side < 2; side++) {
      int run_lib = (side + i) % 2;
      double t = now_ns();
      (run_lib ? lib : floor)(n);
      double ns = (now_ns() - t) / (double)n;
      if (run_lib) l[i] = ns; else f[i] = ns;
    }
    r[i] = l[i] / f[i];
  }
  double ratio = quantile(r, rounds, 0.5), q1 = quantile(r, rounds, 0.25),
         q3 = quantile(r, rounds, 0.75);
  printf("{\"figure\":\"%s\",\"lib_ns\":%.2f,\"floor_ns\":%.2f,\"ratio\":%.3f,"
         "\"ratio_q1\":%.3f,\"ratio_q3\":%.3f,\"rounds\":%d,\"per_round\":%ld,"
         "\"floor\":\"%s\"}\n",
         figure, quantile(l, rounds, 0.5), quantile(f, rounds, 0.5), ratio, q1, q3, rounds, n,
         floor_desc);
  fflush(stdout);
  free(f);
  free(l);
  free(r);
}

int main(int argc, char **argv) {
  int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
  int rounds = smoke ? 5 : 61;
  make_inputs();

  mapi_logoff_spooler_options *options;
  int32_t hr = mapi_logoff_spooler_options_new(&options);
  if (hr != S_OK) die("mapi_logoff_spooler_options_new", hr);
  /* Sharing through the machine registry costs file-system calls per open and release;
     the Rust figures measure it separately (store_cycle_idle_machine_registry). */
  hr = mapi_logoff_spooler_options_set_cross_process(options, false);
  if (hr != S_OK) die("mapi_logoff_spooler_options_set_cross_process", hr);
  hr = mapi_logoff_spooler_new_with_options("bench-c", options, &spooler);
  if (hr != S_OK) die("mapi_logoff_spooler_new_with_options", hr);
  mapi_logoff_spooler_options_free(options);

  measure("c.decide", "mapi_logoff_noop with the same arguments", loop_floor, loop_decide,
          smoke ? 20000 : 400000, rounds);
  measure("c.store_cycle", "3 x mapi_logoff_noop", loop_floor_x3, loop_cycle,
          smoke ? 2000 : 40000, rounds);

  mapi_logoff_spooler_free(spooler);
  return 0;
}
