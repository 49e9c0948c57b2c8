// On a platform with no native binary, loading the package fails with an error that names
// the platform and the supported list, not napi-rs's generic "npm has a bug" advice.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../lib/mapi-logoff.js', import.meta.url))

function loadAs(platform, arch) {
  const script = `
    Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} })
    Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} })
    try { require(${JSON.stringify(entry)}); console.log('LOADED') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  return run.stdout.trim()
}

for (const [platform, arch, name] of [
  ['freebsd', 'x64', 'freebsd-x64'],
  ['darwin', 'arm64', 'darwin-arm64'],
  ['win32', 'x64', 'win32-x64-msvc'],
  ['linux', 'arm64', 'linux-arm64-gnu'],
]) {
  test(`on ${name} the error names the platform and the supported ones`, () => {
    const { code, message } = JSON.parse(loadAs(platform, arch))
    assert.equal(code, 'ERR_MAPI_LOGOFF_UNSUPPORTED_PLATFORM')
    assert.match(message, new RegExp(`this platform \\(${name}\\); supported: linux-x64-gnu`))
    assert.doesNotMatch(message, /npm has a bug/)
  })
}

test('on linux-x64-gnu it loads', () => {
  assert.equal(loadAs('linux', 'x64'), 'LOADED')
})
