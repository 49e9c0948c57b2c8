// No JS callback runs once its environment began shutting down: a process that exits, or a
// worker thread that is terminated, while the library's own threads still have a transport
// flush or an event to deliver ends cleanly, and the callback never runs.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'

import { PACKAGE_DIR } from './helpers.mjs'

const OPTS = { timeout: 60_000 }

/** Runs `source` as an ES module in a fresh node process; its status and output. */
function runScript(source) {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr }
}

const PRELUDE = `
import { createRequire } from 'node:module'
const require = createRequire(process.cwd() + '/')
const mapi = require('mapi-logoff')
const F = mapi.LogoffFlags
`

describe('callbacks and the end of their environment', OPTS, () => {
  test('process.exit while a PURGE waits for its transport: the flush never runs, the exit does not wait', () => {
    const { status, signal, stdout, stderr } = runScript(`${PRELUDE}
      // Node joins its thread pool before it exits, where the awaited PURGE waits: with a
      // deadline of ten minutes, only the library's exit hook lets the process end.
      const sp = new mapi.Spooler('node-shutdown-' + process.pid, { crossProcess: false, purgeDeadlineMs: 600000 })
      sp.addTransport({ flushQueues() { console.log('flushed') } })
      sp.subscribe((e) => console.log('event ' + e.kind))
      const store = sp.openStore('s')
      sp.submit('s')
      // The flush is posted to this thread by a worker of the library; the process
      // exits before the event loop could run it.
      store.logoffTransportsAsync(F.PURGE).then(() => console.log('resolved'))
      console.log('exiting')
      process.exit(0)
    `)
    assert.equal(signal, null, stderr)
    assert.equal(status, 0, stderr)
    assert.match(stdout, /exiting/)
    assert.doesNotMatch(stdout, /flushed|resolved/, 'a callback ran after exit began')
  })

  test('a worker thread terminated while its PURGE waits: the process lives on', () => {
    const { status, signal, stdout, stderr } = runScript(`${PRELUDE}
      import { Worker } from 'node:worker_threads'
      const worker = new Worker(\`
        import { parentPort } from 'node:worker_threads'
        import { createRequire } from 'node:module'
        const mapi = createRequire(process.cwd() + '/')('mapi-logoff')
        const sp = new mapi.Spooler('node-shutdown-worker-' + process.pid, { crossProcess: false, purgeDeadlineMs: 2000 })
        sp.addTransport({ flushQueues() {
          // Busy past the termination: the library's worker waits for this answer.
          const until = Date.now() + 300
          while (Date.now() < until) {}
          parentPort.postMessage('flush ended')
        } })
        sp.subscribe((e) => parentPort.postMessage('event ' + e.kind))
        const store = sp.openStore('s')
        sp.submit('s')
        store.logoffTransportsAsync(mapi.LogoffFlags.PURGE)
        parentPort.postMessage('started')
      \`, { eval: true })
      worker.on('message', async (m) => {
        if (m !== 'started') return
        await worker.terminate()
        // The library's threads finish the logoff with nobody to call back.
        setTimeout(() => { console.log('alive'); process.exit(0) }, 1500)
      })
      worker.on('error', (e) => { console.log('worker error ' + e.stack); process.exit(3) })
    `)
    assert.equal(signal, null, stderr)
    assert.equal(status, 0, stderr)
    assert.match(stdout, /alive/)
  })
})
