// The code of docs/node.md and of the README's Node quick start, run as written: each
// `js` block in its own process (an ES module, from this package so that
// `import 'mapi-logoff'` resolves to it), each `ts` block through tsc.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { PACKAGE_DIR, REPO_DIR, require, runtimeDir } from './helpers.mjs'

/** The fenced blocks of `text`: [{ lang, code, line }]. */
function blocks(text) {
  const out = []
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm
  for (const m of text.matchAll(re)) {
    out.push({ lang: m[1], code: m[2], line: text.slice(0, m.index).split('\n').length })
  }
  return out
}

function runModule(code) {
  return spawnSync(process.execPath, ['--input-type=module', '-'], {
    cwd: PACKAGE_DIR,
    input: code,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, MAPI_LOGOFF_RUNTIME_DIR: runtimeDir() },
  })
}

function assertRan(result, where) {
  assert.equal(result.error, undefined, `${where}: ${result.error}`)
  assert.equal(result.status, 0, `${where} failed:\n${result.stderr}`)
}

const readme = readFileSync(join(REPO_DIR, 'README.md'), 'utf8')
const quickstart = readme.match(/<!-- quickstart:node -->\n([\s\S]*?)<!-- \/quickstart:node -->/)
const docs = readFileSync(join(REPO_DIR, 'docs/node.md'), 'utf8')

describe('README Node quick start', { timeout: 120_000 }, () => {
  test('is there, with one js block that runs and prints what it says', () => {
    assert.ok(quickstart, 'README.md has the quickstart:node markers')
    const js = blocks(quickstart[1]).filter((b) => b.lang === 'js')
    assert.equal(js.length, 1)
    const result = runModule(js[0].code)
    assertRan(result, 'README quick start')
    assert.match(result.stdout, /^decided outbox\s*$/m)
    assert.match(result.stdout, /^released outbox drained$/m)
    assert.match(result.stdout, /^true true$/m)
    assert.match(result.stdout, /^MAPI_E_NO_ACCESS 80070005$/m)
    assert.match(result.stdout, /outFlags: 327680/)
  })
})

describe('docs/node.md', { timeout: 300_000 }, () => {
  const all = blocks(docs)
  const js = all.filter((b) => b.lang === 'js')
  const ts = all.filter((b) => b.lang === 'ts')

  test('has the sections and examples it promises', () => {
    for (const section of ['Install', 'API', 'Promises', 'Callbacks', 'Errors', 'TypeScript']) {
      assert.match(docs, new RegExp(`^## ${section}`, 'm'), section)
    }
    assert.ok(js.length >= 5)
    assert.equal(ts.length, 1)
    assert.deepEqual(new Set(all.map((b) => b.lang)), new Set(['sh', 'js', 'ts']))
  })

  for (const block of js) {
    test(`js block at line ${block.line} runs`, () => {
      assertRan(runModule(block.code), `docs/node.md:${block.line}`)
    })
  }

  test('the ts block type-checks', () => {
    const ts = require('typescript')
    const file = join(PACKAGE_DIR, 'test/types/docs-block.generated.ts')
    const config = ts.getParsedCommandLineOfConfigFile(join(PACKAGE_DIR, 'test/types/tsconfig.json'), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    })
    writeFileSync(file, blocks(docs).find((b) => b.lang === 'ts').code)
    try {
      // The block uses `console`, which is not in the ES lib: declare it as Node does.
      const program = ts.createProgram([file], { ...config.options, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] })
      const diagnostics = ts.getPreEmitDiagnostics(program)
      assert.deepEqual(
        diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
        [],
      )
    } finally {
      rmSync(file, { force: true })
    }
  })
})
