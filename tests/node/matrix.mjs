// The client matrix's common part (see README.md, "Client matrix"): one run of the same steps
// against a running bunkerd through one NIP-46 client library, reported as ONE line of JSON on stdout.
//
// A harness (bunker_client.mjs --matrix, ndk_client.mjs, welshman_client.mjs) supplies a `client`
// object that drives its library the way that library's apps do:
//
//   name, pkg                  the npm package tested (its installed version is reported)
//   open(uri, clientSecret)    parse the bunker URI and build the library's objects (Uint8Array key)
//   connect()                  the library's connect/login call
//   getPublicKey()             the user pubkey, hex
//   sign(template)             the event the app ends up holding
//   nip44Encrypt(pk, text), nip44Decrypt(pk, payload)
//   logout()                   only where the library has one; otherwise null
//   errorText(err)             the text of a rejection (default: describe())
//   errorHoldMs                how long the library itself holds an error reply back (default 0)
//   close()
//
// Every request a library sends and every reply it gets also go through a tap on `ws` (which all
// three Node libraries use here), so the report shows what was on the wire: the methods in order,
// `connect`'s params (secret redacted), the REQ filters and the transport scheme, and when the
// refused request's reply arrived.
//
// With MATRIX_RATE_LIMIT=1 the run stops after get_public_key for a rate-limit test instead: it
// prints READY_LINE on stdout and waits for a `go` line on stdin (meanwhile the test lowers the
// tenant's request rate), then signs notes back to back until one is refused (see rateLimited).
//
// Exit codes: 0 every step passed, 1 a step failed, 2 the global timeout fired.

import { readFileSync, writeSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import * as nip04 from 'nostr-tools/nip04'
import * as nip44 from 'nostr-tools/nip44'
import { hexToBytes } from 'nostr-tools/utils'

/** The wallet request kind (NIP-47) that a default policy refuses. */
export const REFUSED_KIND = 23194
/** How soon a refusal must surface in the client, on top of the library's own hold. */
export const REFUSAL_BOUND_MS = 2000
const NOSTR_CONNECT = 24133
const HEX64 = /^[0-9a-f]{64}$/
const STEP_TIMEOUT_MS = Number(process.env.MATRIX_STEP_TIMEOUT_MS || 10000)
/** What the rate-limit mode prints once connected, before it waits for `go` on stdin. */
export const READY_LINE = '{"ready":true}'
/** At most this many notes are signed back to back in the rate-limit mode. */
const RATE_LIMIT_TRIES = 5
/** How long one of those requests may go unanswered: longer than the bound, to show a hang as one. */
const RATE_LIMIT_WAIT_MS = 5000
const GLOBAL_TIMEOUT_MS = Number(process.env.MATRIX_TIMEOUT_MS || 60000)

// ---- the wire tap -------------------------------------------------------------------------------

const wire = { secret: null, urls: new Set(), reqs: [], requests: [], replies: new Map(), schemes: new Set() }

/** Decrypts a kind-24133 payload between our client key and `peer`, or returns null. */
function open24133(content, peer) {
  try {
    if (content.includes('?iv=')) return { scheme: 'nip04', body: JSON.parse(nip04.decrypt(wire.secret, peer, content)) }
    const key = nip44.v2.utils.getConversationKey(wire.secret, peer)
    return { scheme: 'nip44', body: JSON.parse(nip44.v2.decrypt(content, key)) }
  } catch {
    return null
  }
}

/** What the report keeps of a request: never the bunker secret, never plaintexts. */
function summarize({ method, params = [] }) {
  if (method === 'connect') return { method, params: params.map((p, i) => (i === 1 && p ? '<secret>' : p)) }
  if (method === 'sign_event') return { method, kind: JSON.parse(params[0]).kind }
  return { method, params: params.length }
}

function tapOut(url, data) {
  const msg = JSON.parse(String(data))
  wire.urls.add(url)
  if (msg[0] === 'REQ') wire.reqs.push(msg.slice(2))
  if (msg[0] !== 'EVENT' || msg[1]?.kind !== NOSTR_CONNECT || !wire.secret) return
  const peer = msg[1].tags.find(t => t[0] === 'p')?.[1]
  const opened = peer && open24133(msg[1].content, peer)
  if (!opened?.body?.method) return
  wire.schemes.add(opened.scheme)
  wire.requests.push({ id: opened.body.id, at: performance.now(), ...summarize(opened.body) })
}

function tapIn(data) {
  const msg = JSON.parse(String(data))
  if (msg[0] !== 'EVENT' || msg[2]?.kind !== NOSTR_CONNECT || !wire.secret) return
  const opened = open24133(msg[2].content, msg[2].pubkey)
  const id = opened?.body?.id
  if (id === undefined || wire.replies.has(id)) return
  wire.replies.set(id, { at: performance.now(), result: opened.body.result, error: opened.body.error })
  replyWaiters.get(id)?.()
}

const replyWaiters = new Map()

/** The reply to request `id` once the tap has seen it, or null if it has not by `deadline` (ms). */
function replyBy(id, deadline) {
  if (wire.replies.has(id)) return Promise.resolve(wire.replies.get(id))
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      replyWaiters.delete(id)
      resolve(null)
    }, Math.max(0, deadline - performance.now()))
    replyWaiters.set(id, () => {
      clearTimeout(timer)
      replyWaiters.delete(id)
      resolve(wire.replies.get(id))
    })
  })
}

/** Taps every `ws` socket in the process (NDK, welshman and nostr-tools all end up on this class). */
function installTap() {
  const { send, emit } = WebSocket.prototype
  WebSocket.prototype.send = function (data, ...rest) {
    try { tapOut(this.url, data) } catch (e) { process.stderr.write(`tap (out): ${describe(e)}\n`) }
    return send.call(this, data, ...rest)
  }
  WebSocket.prototype.emit = function (event, data, ...rest) {
    if (event === 'message') {
      try { tapIn(data) } catch (e) { process.stderr.write(`tap (in): ${describe(e)}\n`) }
    }
    return emit.call(this, event, data, ...rest)
  }
}

// ---- reporting ----------------------------------------------------------------------------------

const report = { ok: false, client: null, package: null, steps: [], events: {}, wire: null }
let finished = false
let closer = null
let errorText = describe

/** Turns whatever was thrown or rejected into readable text. */
export function describe(err) {
  if (err instanceof AggregateError) return `${err.message}: ${err.errors.map(describe).join('; ')}`
  if (err instanceof Error) return err.message
  if (typeof err === 'string') return err
  return JSON.stringify(err) ?? String(err)
}

function finish(code) {
  if (finished) return
  finished = true
  report.ok = code === 0
  report.wire = {
    urls: [...wire.urls],
    schemes: [...wire.schemes],
    reqs: wire.reqs,
    requests: wire.requests.map(({ id, at, ...rest }) => rest),
  }
  writeSync(1, JSON.stringify(report) + '\n')
  try { closer?.() } catch (e) { process.stderr.write(`close failed: ${describe(e)}\n`) }
  process.exit(code)
}

function ensure(cond, message) {
  if (!cond) throw new Error(message)
}

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Runs one step with its own timeout; records it; `fatal` ends the run when it fails. */
async function step(name, fn, { fatal = false } = {}) {
  const started = performance.now()
  try {
    const value = await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS, name)
    report.steps.push({ step: name, ok: true, ms: Math.round(performance.now() - started) })
    return value
  } catch (err) {
    report.steps.push({ step: name, ok: false, ms: Math.round(performance.now() - started), error: errorText(err) })
    if (fatal) finish(1)
    return undefined
  }
}

/** The installed version of `pkg` (read from the file: not every package exports its package.json). */
function installedVersion(pkg) {
  const file = new URL(`./node_modules/${pkg}/package.json`, import.meta.url)
  return JSON.parse(readFileSync(file, 'utf8')).version
}

// ---- the steps ----------------------------------------------------------------------------------

const NOW = () => Math.floor(Date.now() / 1000)

/** Kinds 1, 3 and 0 as apps build them: a note, a follow list, a profile. */
function templates(thirdPub) {
  const created_at = NOW() - 60
  return [
    { kind: 1, created_at, content: 'hello from the bunkerd client matrix ✓', tags: [] },
    { kind: 3, created_at, content: '', tags: [['p', thirdPub]] },
    { kind: 0, created_at, content: JSON.stringify({ name: 'alice', about: 'client matrix' }), tags: [] },
  ]
}

function checkSigned(ev, template, userPub) {
  ensure(ev && typeof ev === 'object', `not an event: ${JSON.stringify(ev)}`)
  ensure(verifyEvent(ev), `event does not verify: ${JSON.stringify(ev)}`)
  ensure(ev.pubkey === userPub, `event pubkey ${ev.pubkey} is not the user ${userPub}`)
  for (const key of ['kind', 'created_at', 'content', 'tags']) {
    const same = JSON.stringify(ev[key]) === JSON.stringify(template[key])
    ensure(same, `${key} changed: ${JSON.stringify(ev[key])}`)
  }
}

async function refusal(client) {
  const template = { kind: REFUSED_KIND, created_at: NOW(), content: '{"method":"pay_invoice"}', tags: [] }
  const started = performance.now()
  let result
  try {
    result = await client.sign(template)
  } catch (err) {
    const elapsed = performance.now() - started
    const sent = wire.requests.findLast(r => r.method === 'sign_event' && r.kind === REFUSED_KIND)
    const reply = sent && wire.replies.get(sent.id)
    const hold = client.errorHoldMs ?? 0
    report.refusal = {
      error: errorText(err),
      elapsed_ms: Math.round(elapsed),
      reply_ms: reply ? Math.round(reply.at - sent.at) : null,
      error_hold_ms: hold,
    }
    ensure(report.refusal.error.includes(`sign_event:${REFUSED_KIND}`), `error does not name the permission: ${report.refusal.error}`)
    ensure(report.refusal.reply_ms !== null, 'no error reply seen on the wire')
    ensure(report.refusal.reply_ms < REFUSAL_BOUND_MS, `the reply took ${report.refusal.reply_ms} ms`)
    ensure(elapsed < REFUSAL_BOUND_MS + hold, `the error surfaced after ${report.refusal.elapsed_ms} ms`)
    return
  }
  throw new Error(`kind ${REFUSED_KIND} was signed: ${JSON.stringify(result)}`)
}

/** Resolves with the first line on stdin; rejects if stdin ends before one. */
function firstStdinLine() {
  return new Promise((resolve, reject) => {
    let buffered = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', chunk => {
      buffered += chunk
      const end = buffered.indexOf('\n')
      if (end < 0) return
      process.stdin.pause()
      resolve(buffered.slice(0, end).trim())
    })
    process.stdin.on('end', () => reject(new Error('stdin ended before a line')))
  })
}

/**
 * The rate-limit mode's test, once the tenant allows one request a second: signs kind-1 notes back
 * to back, as an app posting in a hurry would, until one is rejected; that rejection must name
 * `rate-limited` and reach the caller within the bound (plus the library's own hold), and the
 * bunker's error reply to it must reach the socket within the bound too (whether or not the library
 * waited for it). A request left unanswered counts as rejected
 * after RATE_LIMIT_WAIT_MS, so a library that would hang shows up as a late error, not a stuck run.
 */
async function rateLimited(client, userPub) {
  for (let attempt = 0; attempt < RATE_LIMIT_TRIES; attempt++) {
    const template = { kind: 1, created_at: NOW() - 60, content: `note ${attempt}, back to back`, tags: [] }
    const started = performance.now()
    try {
      const ev = await withTimeout(client.sign(structuredClone(template)), RATE_LIMIT_WAIT_MS, `note ${attempt}`)
      checkSigned(ev, template, userPub)
    } catch (err) {
      const elapsed = performance.now() - started
      const sent = wire.requests.findLast(r => r.method === 'sign_event' && r.at >= started)
      // A library may fail on the relay's `OK false` before the reply arrives: wait for it (bounded).
      const reply = sent && (await replyBy(sent.id, sent.at + REFUSAL_BOUND_MS))
      const hold = client.errorHoldMs ?? 0
      report.rate_limited = {
        signed_before: attempt,
        error: errorText(err),
        elapsed_ms: Math.round(elapsed),
        reply_error: reply?.error ?? null,
        reply_ms: reply ? Math.round(reply.at - sent.at) : null,
        error_hold_ms: hold,
      }
      const seen = report.rate_limited
      ensure(seen.error.includes('rate-limited'), `the error does not say rate-limited: ${seen.error}`)
      ensure(elapsed < REFUSAL_BOUND_MS + hold, `the error surfaced after ${seen.elapsed_ms} ms`)
      ensure(seen.reply_ms !== null, 'no error reply to the refused request seen on the wire')
      return
    }
  }
  throw new Error(`all ${RATE_LIMIT_TRIES} back-to-back notes were signed: none was rate-limited`)
}

/**
 * Runs the matrix with `client` for `node <harness> <bunker-uri> <third-party-secret-hex>`:
 * connect, get_public_key, sign kinds 1, 3 and 0, a NIP-44 round trip with the third party, the
 * refused kind-23194 request, then logout where the library has one. The refusal comes before
 * logout because logout ends the session, after which every request is refused for that reason.
 */
export async function runMatrix(client, [uri, thirdHex] = []) {
  installTap()
  process.on('uncaughtException', err => {
    report.steps.push({ step: 'uncaught', ok: false, error: describe(err) })
    finish(1)
  })
  process.on('unhandledRejection', err => process.stderr.write(`unhandled rejection (ignored): ${describe(err)}\n`))
  setTimeout(() => {
    report.steps.push({ step: 'timeout', ok: false, error: `no end within ${GLOBAL_TIMEOUT_MS} ms` })
    finish(2)
  }, GLOBAL_TIMEOUT_MS)

  report.client = client.name
  closer = () => client.close()
  errorText = client.errorText ?? describe
  const third = await step('args', () => {
    report.package = `${client.pkg}@${installedVersion(client.pkg)}`
    ensure(typeof uri === 'string' && uri.startsWith('bunker://'), `not a bunker:// URI: ${uri}`)
    ensure(HEX64.test(thirdHex ?? ''), 'the third-party secret must be 64 lowercase hex characters')
    return hexToBytes(thirdHex)
  }, { fatal: true })
  const thirdPub = getPublicKey(third)
  wire.secret = generateSecretKey()
  await step('open', () => client.open(uri, wire.secret), { fatal: true })
  await step('connect', () => client.connect(), { fatal: true })
  const userPub = await step('get_public_key', async () => {
    const pk = await client.getPublicKey()
    ensure(HEX64.test(pk ?? ''), `get_public_key returned ${JSON.stringify(pk)}`)
    return pk
  }, { fatal: true })
  report.user_pubkey = userPub
  if (process.env.MATRIX_RATE_LIMIT === '1') {
    writeSync(1, READY_LINE + '\n')
    await step('go', async () => {
      const line = await firstStdinLine()
      ensure(line === 'go', `expected go on stdin, got ${JSON.stringify(line)}`)
    }, { fatal: true })
    await step('rate_limited', () => rateLimited(client, userPub))
    finish(report.steps.every(s => s.ok) ? 0 : 1)
    return
  }

  for (const template of templates(thirdPub)) {
    await step(`sign_kind_${template.kind}`, async () => {
      const ev = await client.sign(structuredClone(template))
      checkSigned(ev, template, userPub)
      report.events[template.kind] = ev
    })
  }
  const key = nip44.v2.utils.getConversationKey(third, userPub)
  const toThird = 'to the third party ✓'
  const fromThird = 'from the third party ✓'
  const encrypted = await step('nip44_encrypt', async () => {
    const payload = await client.nip44Encrypt(thirdPub, toThird)
    ensure(nip44.v2.decrypt(payload, key) === toThird, 'the third party cannot read it')
    return true
  })
  const decrypted = await step('nip44_decrypt', async () => {
    const plain = await client.nip44Decrypt(thirdPub, nip44.v2.encrypt(fromThird, key))
    ensure(plain === fromThird, `the bunker decrypted ${JSON.stringify(plain)}`)
    return true
  })
  report.nip44_roundtrip = Boolean(encrypted && decrypted)
  await step('refused_sign', () => refusal(client))
  report.logout = null
  if (client.logout) {
    await step('logout', async () => {
      await client.logout()
      const sent = wire.requests.findLast(r => r.method === 'logout')
      report.logout = (sent && wire.replies.get(sent.id)?.result) ?? null
      ensure(report.logout === 'ack', `logout answered ${JSON.stringify(report.logout)}`)
    })
  }
  finish(report.steps.every(s => s.ok) ? 0 : 1)
}
