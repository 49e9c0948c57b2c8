// The Node column of the bad-input matrix (tests/fixtures/bad_input_matrix.json, which the
// C, Rust and Python tests read too, and docs/reliability.md shows): one test per cell,
// expecting the error the matrix names and checking that the rejected calls changed nothing.
// Errors: 'TypeError' and 'RangeError' are those classes; a MAPI_E_* name is a MapiError
// with that code.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { REPO_DIR, assertMapi, mapi, newSpooler } from './helpers.mjs'

const { LogoffFlags: F, decide } = mapi
const MATRIX = JSON.parse(readFileSync(join(REPO_DIR, 'tests/fixtures/bad_input_matrix.json'), 'utf8'))
const CLASSES = MATRIX.classes.map((c) => c.id)

/** A spooler with a store opened on it, a queued message and a saved NO_WAIT. */
function scene(strict = false) {
  // closeDeadlineMs 0: closing after a cell must not wait for the queued message to drain.
  const spooler = newSpooler({ closeDeadlineMs: 0, strict })
  const store = spooler.openStore('box')
  spooler.submit('box')
  store.logoff(F.NO_WAIT)
  const snapshot = () => ({
    stats: spooler.stats('box'),
    savedMode: store.savedMode,
    refCount: store.refCount,
    valid: store.valid,
    storeIds: spooler.storeIds(),
  })
  /** Each call must throw `error`; none may change anything. */
  const rejects = (error, ...calls) => {
    const before = snapshot()
    for (const call of calls) {
      assert.throws(call, (err) => {
        if (error === 'TypeError') assert.ok(err instanceof TypeError, `want a TypeError, got ${err}`)
        else if (error === 'RangeError') assert.ok(err instanceof RangeError, `want a RangeError, got ${err}`)
        else assertMapi(err, error)
        return true
      }, `${call}`)
    }
    assert.deepEqual(snapshot(), before, 'a rejected call changed something')
  }
  return {
    spooler,
    store,
    rejects,
    /** The same scene on a spooler with strict validation opted in, made on first use. */
    get strict() {
      return (this.strictScene ??= scene(true))
    },
  }
}

const CELLS = {
  null: ({ spooler, store, rejects }, error) =>
    rejects(
      error,
      () => store.logoff(undefined),
      () => spooler.submit(undefined),
      () => spooler.openStore(null),
    ),
  wrong_type: ({ spooler, store, rejects }, error) =>
    rejects(
      error,
      () => store.logoff('4'),
      () => spooler.submit(42),
    ),
  negative: ({ store, rejects }, error) => rejects(error, () => store.logoff(-1)),
  above_u32: ({ store, rejects }, error) =>
    rejects(
      error,
      () => store.logoff(2 ** 32),
      () => store.logoffTransports(2 ** 32),
    ),
  unknown_flag_bits: ({ store, rejects }, error) =>
    rejects(
      error,
      () => store.logoff(F.ORDERLY | 0x100),
      () => store.logoffTransports(F.ORDERLY | 0x100),
      () => decide(F.ORDERLY, 0x1),
    ),
  zero_flags: ({ strict }, error) =>
    strict.rejects(
      error,
      () => strict.store.logoff(0),
      () => strict.store.logoffTransports(0),
      () => decide(0, 0, { strict: true }),
    ),
  several_flags: ({ strict }, error) =>
    strict.rejects(
      error,
      () => strict.store.logoff(F.ORDERLY | F.ABORT),
      () => strict.store.logoffTransports(F.ORDERLY | F.ABORT),
      () => decide(F.ORDERLY | F.ABORT, 0, { strict: true }),
    ),
  bad_store_id: ({ spooler, rejects }, error) =>
    rejects(
      error,
      () => spooler.submit('\ud800'),
      () => spooler.beginReceive('\ud800'),
      () => spooler.openStore('\udc80'),
    ),
  empty_store_id: ({ spooler, rejects }, error) =>
    rejects(
      error,
      () => spooler.submit(''),
      () => spooler.beginReceive(''),
      () => spooler.openStore(''),
    ),
  released_handle: (s, error) => {
    assert.equal(s.store.release(), 0)
    s.rejects(
      error,
      () => s.store.logoff(F.ORDERLY),
      () => s.store.logoffTransports(F.ORDERLY),
    )
  },
  closed_spooler: (s, error) => {
    s.spooler.close()
    s.rejects(
      error,
      () => s.spooler.openStore('box'),
      () => s.spooler.submit('box'),
      () => s.spooler.beginReceive('box'),
      () => s.spooler.close(),
    )
  },
}

describe('bad-input matrix', () => {
  test('every class has a Node cell, and every cell here a class', () => {
    assert.deepEqual(Object.keys(MATRIX.cells.node).sort(), [...CLASSES].sort())
    for (const name of Object.keys(CELLS)) assert.ok(CLASSES.includes(name), name)
  })

  for (const id of CLASSES) {
    test(`cell ${id}`, () => {
      const cell = MATRIX.cells.node[id]
      if ('na' in cell) {
        assert.ok(!(id in CELLS), 'the matrix says n/a, but this file tests it')
        return
      }
      assert.ok(id in CELLS, `the matrix expects ${cell.error}, but there is no cell for ${id}`)
      const s = scene()
      try {
        CELLS[id](s, cell.error)
      } finally {
        if (!s.spooler.closed) s.spooler.close()
        if (s.strictScene && !s.strictScene.spooler.closed) s.strictScene.spooler.close()
      }
    })
  }
})
