// The flag objects: frozen, and equal to the C header's and the fixture's constants and
// to the literal types of lib/mapi-logoff.d.ts.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { PACKAGE_DIR, REPO_DIR, mapi, readFixture, require } from './helpers.mjs'

const { LogoffFlags, FlushFlags, Release, HResult } = mapi

/** Every constant of the library under its C name. */
function cNames() {
  const out = {}
  for (const [k, v] of Object.entries(LogoffFlags)) out[`LOGOFF_${k}`] = v
  for (const [k, v] of Object.entries(FlushFlags)) out[`FLUSH_${k}`] = v
  for (const [k, v] of Object.entries(Release)) out[`MAPI_LOGOFF_RELEASE_${k}`] = v
  for (const [k, v] of Object.entries(HResult)) out[k] = v
  return out
}

/** `#define NAME value` of the header, as unsigned numbers (`(int32_t)2147500037u` too). */
function headerDefines(text) {
  const out = {}
  const re = /^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+(?:\(\s*(?:u?int32_t|mapi_logoff_hresult|mapi_logoff_ulong)\s*\)\s*)?(0x[0-9a-fA-F]+|\d+)[uU]?L*\s*$/gm
  for (const m of text.matchAll(re)) out[m[1]] = Number(m[2]) >>> 0
  // A MAPI name defined as its library-prefixed one: #define LOGOFF_PURGE MAPI_LOGOFF_PURGE.
  for (const m of text.matchAll(/^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+([A-Z_][A-Z0-9_]*)\s*$/gm)) {
    if (m[2] in out) out[m[1]] = out[m[2]]
  }
  return out
}

describe('constants', () => {
  test('are frozen plain objects', () => {
    for (const obj of [LogoffFlags, FlushFlags, Release, HResult]) {
      assert.ok(Object.isFrozen(obj))
      assert.equal(Object.getPrototypeOf(obj), Object.prototype)
      assert.throws(() => {
        'use strict'
        obj.NEW = 1
      }, TypeError)
    }
    assert.throws(() => {
      LogoffFlags.PURGE = 8
    }, TypeError)
    assert.equal(LogoffFlags.PURGE, 4)
  })

  test('have the SPEC §2 values', () => {
    assert.deepEqual({ ...LogoffFlags }, {
      NO_WAIT: 0x1,
      ORDERLY: 0x2,
      PURGE: 0x4,
      ABORT: 0x8,
      QUIET: 0x10,
      COMPLETE: 0x10000,
      INBOUND: 0x20000,
      OUTBOUND: 0x40000,
      OUTBOUND_QUEUE: 0x80000,
    })
    assert.deepEqual({ ...FlushFlags }, { UPLOAD: 0x2, DOWNLOAD: 0x4, FORCE: 0x8, NO_UI: 0x10 })
    assert.deepEqual({ ...Release }, { REFUSED: 0, NOW: 1, WHEN_DRAINED: 2 })
    assert.equal(HResult.S_OK, 0)
    assert.equal(HResult.MAPI_E_INVALID_PARAMETER, 0x80070057)
    assert.equal(Object.keys(HResult).length, 11)
  })

  test("equal the fixture's constants", () => {
    const { constants } = readFixture()
    const ours = cNames()
    let compared = 0
    for (const [name, value] of Object.entries(constants)) {
      if (name.startsWith('MAPI_LOGOFF_DECIDE_')) continue // decide's options
      assert.ok(name in ours, `${name} is not exported`)
      assert.equal(ours[name], value, name)
      compared += 1
    }
    assert.equal(compared, Object.keys(ours).length, 'every exported constant is in the fixture')
  })

  const header = join(REPO_DIR, 'include/mapi_logoff.h')
  test("equal the C header's", { skip: !existsSync(header) && 'include/mapi_logoff.h not generated yet' }, () => {
    const defines = headerDefines(readFileSync(header, 'utf8'))
    let compared = 0
    for (const [name, value] of Object.entries(cNames())) {
      assert.ok(name in defines, `${name} is not #defined in the header`)
      assert.equal(value, defines[name], name)
      compared += 1
    }
    assert.equal(compared, 27)
  })

  test('equal the literal types of lib/mapi-logoff.d.ts', () => {
    const ts = require('typescript')
    const file = join(PACKAGE_DIR, 'lib/mapi-logoff.d.ts')
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
    const declared = {}
    for (const stmt of source.statements) {
      if (!ts.isVariableStatement(stmt)) continue
      for (const decl of stmt.declarationList.declarations) {
        if (!decl.type || !ts.isTypeLiteralNode(decl.type)) continue
        const members = {}
        for (const m of decl.type.members) {
          assert.ok(m.modifiers?.some((x) => x.kind === ts.SyntaxKind.ReadonlyKeyword), `${decl.name.text}.${m.name.text} is readonly`)
          assert.ok(ts.isLiteralTypeNode(m.type), `${decl.name.text}.${m.name.text} has a literal type`)
          members[m.name.text] = Number(m.type.literal.text)
        }
        declared[decl.name.text] = members
      }
    }
    assert.deepEqual(declared, {
      LogoffFlags: { ...LogoffFlags },
      FlushFlags: { ...FlushFlags },
      Release: { ...Release },
      HResult: { ...HResult },
    })
  })
})
