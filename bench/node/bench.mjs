// The Node figures of scripts/bench (issue 8, figure 4).
//
//   node bench/node/bench.mjs [--smoke]
//
// Compares, in alternating rounds of the same run:
// - the package's `decide` with the napi floor (`benchNoopDecideArgs`, an empty #[napi]
//   function taking the three numbers the addon's `decide` takes, converted the same way),
//   with the cheapest call (`benchNoop()`, converting nothing: `bare`), with the addon's own
//   `decide` called directly (what the package's JS layer adds), and with a pure-JS decision
//   table written for the benchmark (pure.mjs; checked against the shared fixture first);
// - the store cycle (openStore -> logoff(NO_WAIT) -> release on an idle store) with three
//   cheapest calls (`benchNoop`, given the cycle's arguments and converting none) and with
//   pure.mjs's PureSpooler: in the default configuration (`node.store_cycle`: cross-process
//   sharing on, the machine registry in the directory the library picks) and, as another
//   side of the same rounds against the same floor, with cross-process sharing switched off
//   (`node.store_cycle_cross_process_off`).
//
// Each variant runs in every round, the order rotating from round to round; a ratio is the
// median of the per-round ratios. Every result is consumed so that the JIT cannot drop a
// call. Prints one JSON object per figure, as bench/report.py reads them.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import * as pure from './pure.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
const ml = require(join(ROOT, 'bindings-node'))
const native = require(join(ROOT, 'bindings-node', 'index.js'))
const FIXTURE = join(ROOT, 'tests', 'fixtures', 'decision_table.json')

const smoke = process.argv.includes('--smoke')
const MODES = [1, 2, 4, 8, 16]
const ACTIVITIES = [0, 0x20000, 0x40000, 0x80000, 0xe0000]
// Every mode with each single activity bit and none (all valid), as a caller varies them.
const INPUTS = ACTIVITIES.flatMap((a) => MODES.map((m) => [m, a]))

function checkPureAgainstFixture() {
  const { cases } = JSON.parse(readFileSync(FIXTURE, 'utf8'))
  for (const c of cases) {
    const results = [(f, a, x) => native.decide(f, a, x), pure.decideBits].map((impl) => {
      try {
        const d = impl(c.flags, c.activity, c.context)
        return JSON.stringify([d.outFlags, d.release, d.flushFlags, d.allowed, d.waits])
      } catch (err) {
        return JSON.stringify(err.code)
      }
    })
    const want = JSON.stringify(c.error ?? [c.out_flags, c.release, c.flush_flags, c.allowed, c.waits])
    if (results[0] !== want || results[1] !== want) {
      throw new Error(`case ${c.name}: addon/pure gave ${results}, want ${want}`)
    }
  }
  return cases.length
}

function median(v) {
  const s = [...v].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

function quartiles(v) {
  const s = [...v].sort((a, b) => a - b)
  const at = (q) => {
    const pos = q * (s.length - 1)
    const lo = Math.floor(pos)
    const hi = Math.min(lo + 1, s.length - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
  }
  return [at(0.25), at(0.5), at(0.75)]
}

let sink = 0

/** ns per iteration of each variant, one value per round. */
function measure(variants, n, rounds) {
  const names = Object.keys(variants)
  for (const name of names) variants[name](Math.max(1, n >> 2)) // warm up (and let the JIT in)
  const times = Object.fromEntries(names.map((k) => [k, []]))
  for (let r = 0; r < rounds; r++) {
    const k = r % names.length
    for (const name of [...names.slice(k), ...names.slice(0, k)]) {
      const t = process.hrtime.bigint()
      variants[name](n)
      times[name].push(Number(process.hrtime.bigint() - t) / n)
    }
  }
  return times
}

const round = (x, d = 1) => Number(x.toFixed(d))

/** The figure of the variant `lib` (a key of `times`) against the floor and the others. */
function figure(name, times, floorDesc, lib = 'lib') {
  const perRound = (a, b) => times[a].map((x, i) => x / times[b][i])
  const [q1, ratio, q3] = quartiles(perRound(lib, 'floor'))
  const out = {
    figure: name,
    lib_ns: round(median(times[lib])),
    floor_ns: round(median(times.floor)),
    ratio: round(ratio, 3),
    ratio_q1: round(q1, 3),
    ratio_q3: round(q3, 3),
    rounds: times[lib].length,
    floor: floorDesc,
  }
  if (times.pure) {
    const [p1, pr, p3] = quartiles(perRound(lib, 'pure'))
    Object.assign(out, {
      pure_ns: round(median(times.pure)),
      pure_ratio: round(pr, 3),
      pure_ratio_q1: round(p1, 3),
      pure_ratio_q3: round(p3, 3),
    })
  }
  if (times.bare) {
    const [b1, br, b3] = quartiles(perRound(lib, 'bare'))
    Object.assign(out, {
      bare_ns: round(median(times.bare)),
      bare_ratio: round(br, 3),
      bare_ratio_q1: round(b1, 3),
      bare_ratio_q3: round(b3, 3),
    })
  }
  if (times.addon) {
    const [a1, ar, a3] = quartiles(perRound('addon', 'floor'))
    Object.assign(out, {
      addon_ns: round(median(times.addon)),
      addon_ratio: round(ar, 3),
      addon_ratio_q1: round(a1, 3),
      addon_ratio_q3: round(a3, 3),
    })
  }
  return out
}

function decideVariants() {
  const batch = Array.from({ length: 8 }, () => INPUTS).flat()
  const flags = Int32Array.from(batch, (x) => x[0])
  const activity = Int32Array.from(batch, (x) => x[1])
  const len = batch.length
  const { decide } = ml
  const nativeDecide = native.decide
  const noop = native.benchNoopDecideArgs
  const bareNoop = native.benchNoop
  const pureDecide = pure.decide
  return {
    lib(n) {
      let acc = 0
      for (let i = 0; i < n; i++) acc ^= decide(flags[i % len], activity[i % len]).outFlags
      sink ^= acc
    },
    floor(n) {
      let acc = 0
      for (let i = 0; i < n; i++) if (noop(flags[i % len], activity[i % len], 0) === undefined) acc++
      sink ^= acc
    },
    bare(n) {
      let acc = 0
      for (let i = 0; i < n; i++) if (bareNoop() === undefined) acc += (flags[i % len] ^ activity[i % len]) & 1
      sink ^= acc
    },
    addon(n) {
      let acc = 0
      for (let i = 0; i < n; i++) acc ^= nativeDecide(flags[i % len], activity[i % len], 0).outFlags
      sink ^= acc
    },
    pure(n) {
      let acc = 0
      for (let i = 0; i < n; i++) acc ^= pureDecide(flags[i % len], activity[i % len]).outFlags
      sink ^= acc
    },
  }
}

function cycleVariants() {
  // The default configuration: no options. The profile is this process's own, so that
  // another run of this harness at the same time shares no store with it.
  const sp = new ml.Spooler(`bench-node-${process.pid}`)
  const spOff = new ml.Spooler('bench-node', { crossProcess: false })
  const psp = new pure.PureSpooler()
  const noop = native.benchNoop
  const NO_WAIT = ml.LogoffFlags.NO_WAIT
  // The library cycle on either spooler (both of one class, so the loop stays monomorphic).
  const cycleOn = (spooler) => (n) => {
    let acc = 0
    for (let i = 0; i < n; i++) {
      const s = spooler.openStore('inbox')
      acc ^= s.logoff(NO_WAIT)
      acc ^= s.release()
    }
    sink ^= acc
  }
  const variants = {
    lib: cycleOn(sp),
    libOff: cycleOn(spOff),
    floor(n) {
      let acc = 0
      for (let i = 0; i < n; i++) {
        if (noop('inbox') === undefined) acc++
        if (noop(NO_WAIT) === undefined) acc++
        if (noop() === undefined) acc++
      }
      sink ^= acc
    },
    pure(n) {
      let acc = 0
      for (let i = 0; i < n; i++) {
        const s = psp.openStore('inbox')
        acc ^= s.logoff(NO_WAIT)
        acc ^= s.release()
      }
      sink ^= acc
    },
  }
  for (const [run, spooler] of [
    [variants.lib, sp],
    [variants.libOff, spOff],
  ]) {
    run(1)
    const stats = spooler.stats('inbox')
    if (!stats.released || stats.clients !== 0) throw new Error(`store not released: ${JSON.stringify(stats)}`)
  }
  return variants
}

if (typeof native.benchNoop !== 'function' || typeof native.benchNoopDecideArgs !== 'function') {
  throw new Error('the addon has no benchNoop: rebuild it (npm run build in bindings-node)')
}
const rounds = smoke ? 5 : 41
const checked = checkPureAgainstFixture()
const d = figure('node.decide', measure(decideVariants(), smoke ? 20_000 : 400_000, rounds), 'benchNoopDecideArgs(flags, activity, 0)')
d.fixture_cases_checked = checked
console.log(JSON.stringify(d))
const cycles = measure(cycleVariants(), smoke ? 2_000 : 40_000, rounds)
console.log(JSON.stringify(figure('node.store_cycle', cycles, '3 x benchNoop(...)')))
console.log(JSON.stringify(figure('node.store_cycle_cross_process_off', cycles, '3 x benchNoop(...)', 'libOff')))
if (sink === 0.5) console.log('') // keeps `sink` observable
