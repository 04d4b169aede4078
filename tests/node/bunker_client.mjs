// NIP-46 client harness: drives a real bunkerd with nostr-tools' BunkerSigner
// and reports what happened as ONE line of JSON on stdout (see README.md).
//
// Usage:
//   node bunker_client.mjs <bunker-uri> <third-party-secret-hex>
//   node bunker_client.mjs --expect-error <method> <bunker-uri>
//   node bunker_client.mjs --matrix <bunker-uri> <third-party-secret-hex>   (see matrix.mjs)
//
// Environment:
//   BUNKER_CLIENT_SECRET      optional 64-hex client secret key (reconnect as the same client)
//   SKIP_CONNECT=1            do not send `connect` (client already connected earlier)
//   BUNKER_CLIENT_TIMEOUT_MS  optional global timeout, default 20000
//
// Exit codes: 0 ok, 1 failure (ok:false), 2 global timeout (ok:false, step "timeout").
// Diagnostics go to stderr only; stdout carries exactly one JSON line.

import { writeSync } from 'node:fs'
import WebSocket from 'ws'
import { BUNKER_REGEX, BunkerSigner, parseBunkerInput } from 'nostr-tools/nip46'
import { SimplePool } from 'nostr-tools/pool'
import { generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'
import { hexToBytes } from 'nostr-tools/utils'
import { runMatrix } from './matrix.mjs'

const USAGE =
  'usage: bunker_client.mjs <bunker-uri> <third-party-secret-hex>' +
  ' | bunker_client.mjs --expect-error <method> <bunker-uri>'
const HEX64 = /^[0-9a-f]{64}$/
const DEFAULT_TIMEOUT_MS = 20000
// One timestamp for the whole run (an hour back: within the signer's default created_at bound of
// 7 days, and not "now", so an unchanged created_at is visible in the signed event).
const FIXED_CREATED_AT = Math.floor(Date.now() / 1000) - 3600
// Emoji (astral + ZWJ + variation selector), quotes, backslash, newlines and a
// tab: the characters NIP-01 serialization most often gets wrong.
const SIGN_CONTENT =
  'bunkerd e2e 🤙🏽 👩‍💻 ✓\n"quoted" and \\backslash\\\r\nsecond line\tend'
const TO_THIRD = 'hello nip44 ✓'
const FROM_THIRD = 'from third party'

const state = { step: 'start', steps: [], finished: false, signer: null, pool: null, relays: [] }

/** Prints exactly one JSON line (first call wins) and exits with `code`. */
function finish(obj, code) {
  if (state.finished) return
  state.finished = true
  // writeSync: stdout must be flushed before process.exit, pipe or file.
  writeSync(1, JSON.stringify(obj) + '\n')
  closeQuietly()
  process.exit(code)
}

function fail(step, err) {
  finish({ ok: false, step, error: describe(err) }, 1)
}

/** Turns whatever was thrown/rejected into readable text. */
function describe(err) {
  if (err instanceof AggregateError) {
    const inner = err.errors.map(e => describe(e)).join('; ')
    return `${err.message}: ${inner}`
  }
  if (err instanceof Error) return err.message
  return typeof err === 'string' ? err : JSON.stringify(err)
}

function closeQuietly() {
  try {
    state.signer?.close()
    state.pool?.close(state.relays)
    state.pool?.destroy()
  } catch (e) {
    process.stderr.write(`close failed: ${describe(e)}\n`)
  }
}

function startGlobalTimeout() {
  const raw = process.env.BUNKER_CLIENT_TIMEOUT_MS
  const ms = raw && /^\d+$/.test(raw) ? Number(raw) : DEFAULT_TIMEOUT_MS
  setTimeout(() => {
    const error = `no answer within ${ms} ms (during step ${state.step})`
    finish({ ok: false, step: 'timeout', error }, 2)
  }, ms)
}

function installCrashGuards() {
  process.on('uncaughtException', err => fail(state.step, err))
  // nostr-tools may leave a losing relay promise rejected after Promise.any
  // settled; that is not a failure of the step, so only log it.
  process.on('unhandledRejection', err => {
    process.stderr.write(`unhandled rejection (ignored): ${describe(err)}\n`)
  })
}

/** Runs one named step; on error reports `ok:false` with that step's name. */
async function step(name, fn) {
  state.step = name
  try {
    const value = await fn()
    state.steps.push(name)
    return value
  } catch (err) {
    fail(name, err)
    // fail() exits; this keeps the promise pending until it does.
    return new Promise(() => {})
  }
}

function ensure(cond, message) {
  if (!cond) throw new Error(message)
}

function clientSecretKey() {
  const hex = process.env.BUNKER_CLIENT_SECRET
  if (hex === undefined || hex === '') return generateSecretKey()
  ensure(HEX64.test(hex), 'BUNKER_CLIENT_SECRET must be 64 lowercase hex characters')
  return hexToBytes(hex)
}

/** Parses the URI without ever falling back to a NIP-05 network lookup. */
async function parseUri(uri) {
  ensure(typeof uri === 'string' && BUNKER_REGEX.test(uri), `not a bunker:// URI: ${uri}`)
  const bp = await parseBunkerInput(uri)
  ensure(bp, `nostr-tools could not parse ${uri}`)
  ensure(bp.relays.length > 0, 'bunker URI has no relay')
  return bp
}

/** Node 20 has no global WebSocket, so the pool gets `ws` explicitly. */
function openSigner(bp, secretKey) {
  state.relays = bp.relays
  state.pool = new SimplePool({ websocketImplementation: WebSocket })
  state.signer = BunkerSigner.fromBunker(secretKey, bp, { pool: state.pool })
  return state.signer
}

async function connectUnlessSkipped(signer) {
  if (process.env.SKIP_CONNECT === '1') return
  await step('connect', () => signer.connect())
}

function signTemplate(thirdPartyPub) {
  return {
    kind: 1,
    created_at: FIXED_CREATED_AT,
    content: SIGN_CONTENT,
    tags: [['t', 'bunkerd'], ['p', thirdPartyPub], ['e', '', '']],
  }
}

/** The bunker must sign exactly the template, as the user, validly. */
function checkSigned(signed, template, userPub) {
  ensure(verifyEvent(signed), 'returned event does not verify locally')
  ensure(signed.pubkey === userPub, `event pubkey ${signed.pubkey} is not the user ${userPub}`)
  for (const key of ['kind', 'created_at', 'content', 'tags']) {
    const same = JSON.stringify(signed[key]) === JSON.stringify(template[key])
    ensure(same, `bunker altered field ${key}: ${JSON.stringify(signed[key])}`)
  }
}

async function nip44Roundtrip(signer, tpSecret, tpPub, userPub) {
  const key = nip44.v2.utils.getConversationKey(tpSecret, userPub)
  await step('nip44_encrypt', async () => {
    const out = await signer.nip44Encrypt(tpPub, TO_THIRD)
    const seen = nip44.v2.decrypt(out, key)
    ensure(seen === TO_THIRD, `third party decrypted ${JSON.stringify(seen)}`)
  })
  await step('nip44_decrypt', async () => {
    const back = await signer.nip44Decrypt(tpPub, nip44.v2.encrypt(FROM_THIRD, key))
    ensure(back === FROM_THIRD, `bunker decrypted ${JSON.stringify(back)}`)
  })
  return true
}

async function nip04Roundtrip(signer, tpSecret, tpPub, userPub) {
  await step('nip04_encrypt', async () => {
    const out = await signer.nip04Encrypt(tpPub, TO_THIRD)
    const seen = nip04.decrypt(tpSecret, userPub, out)
    ensure(seen === TO_THIRD, `third party decrypted ${JSON.stringify(seen)}`)
  })
  await step('nip04_decrypt', async () => {
    const back = await signer.nip04Decrypt(tpPub, nip04.encrypt(tpSecret, userPub, FROM_THIRD))
    ensure(back === FROM_THIRD, `bunker decrypted ${JSON.stringify(back)}`)
  })
  return true
}

async function runFull(uri, tpHex) {
  const tpSecret = await step('args', () => {
    ensure(HEX64.test(tpHex ?? ''), 'third-party secret must be 64 lowercase hex characters')
    return hexToBytes(tpHex)
  })
  const tpPub = getPublicKey(tpSecret)
  const bp = await step('parse_uri', () => parseUri(uri))
  const signer = await step('open', () => openSigner(bp, clientSecretKey()))
  await connectUnlessSkipped(signer)
  const userPub = await step('get_public_key', async () => {
    const pk = await signer.getPublicKey()
    ensure(HEX64.test(pk), `get_public_key returned ${JSON.stringify(pk)}`)
    return pk
  })
  const template = signTemplate(tpPub)
  const signed = await step('sign_event', async () => {
    const ev = await signer.signEvent(template)
    checkSigned(ev, template, userPub)
    return ev
  })
  const nip44ok = await nip44Roundtrip(signer, tpSecret, tpPub, userPub)
  const nip04ok = await nip04Roundtrip(signer, tpSecret, tpPub, userPub)
  await step('ping', () => signer.ping())
  finish(
    {
      ok: true,
      user_pubkey: userPub,
      signed_event: signed,
      nip44_roundtrip: nip44ok,
      nip04_roundtrip: nip04ok,
      ping: 'pong',
      steps: state.steps,
    },
    0,
  )
}

/**
 * A well-formed ciphertext from a random third party to the user, so a
 * refusal of a decrypt method cannot be mistaken for a decryption failure.
 * Falls back to junk if the user key cannot be learned (that call refused).
 */
async function ciphertextForUser(signer, tpSecret, scheme) {
  let userPub
  try {
    userPub = await signer.getPublicKey()
  } catch (err) {
    process.stderr.write(`get_public_key failed, sending junk ciphertext: ${describe(err)}\n`)
    return scheme === 'nip04' ? 'bm90?iv=bm90' : 'not a nip44 payload'
  }
  if (scheme === 'nip04') return nip04.encrypt(tpSecret, userPub, FROM_THIRD)
  return nip44.v2.encrypt(FROM_THIRD, nip44.v2.utils.getConversationKey(tpSecret, userPub))
}

/** Calls one NIP-46 method through the BunkerSigner API where it has one. */
async function callMethod(signer, method) {
  const tpSecret = generateSecretKey()
  const tpPub = getPublicKey(tpSecret)
  switch (method) {
    case 'connect':
      return signer.connect()
    case 'get_public_key':
      return signer.getPublicKey()
    case 'sign_event':
      return signer.signEvent(signTemplate(tpPub))
    case 'ping':
      return signer.ping()
    case 'nip44_encrypt':
      return signer.nip44Encrypt(tpPub, TO_THIRD)
    case 'nip44_decrypt':
      return signer.nip44Decrypt(tpPub, await ciphertextForUser(signer, tpSecret, 'nip44'))
    case 'nip04_encrypt':
      return signer.nip04Encrypt(tpPub, TO_THIRD)
    case 'nip04_decrypt':
      return signer.nip04Decrypt(tpPub, await ciphertextForUser(signer, tpSecret, 'nip04'))
    default:
      return signer.sendRequest(method, [])
  }
}

async function runExpectError(method, uri) {
  await step('args', () => ensure(typeof method === 'string' && method !== '', 'missing method'))
  const bp = await step('parse_uri', () => parseUri(uri))
  const signer = await step('open', () => openSigner(bp, clientSecretKey()))
  // `--expect-error connect` tests a refused connect itself.
  if (method !== 'connect') await connectUnlessSkipped(signer)
  state.step = method
  let result
  try {
    result = await callMethod(signer, method)
  } catch (err) {
    // BunkerSigner rejects with the reply's raw `error` value; transport and
    // local failures are Error objects instead.
    if (err instanceof Error) return fail(method, err)
    return finish({ ok: true, error: describe(err) }, 0)
  }
  const shown = describe(result ?? null)
  finish({ ok: false, step: method, error: `bunker answered with a result: ${shown}` }, 1)
}

/**
 * nostr-tools in the client matrix, driven as its README shows: `parseBunkerInput`, then
 * `BunkerSigner.fromBunker(localKey, pointer, {pool})` and `connect()`; `logout()` exists here.
 */
function matrixClient() {
  let pool
  let signer
  let relays = []
  return {
    name: 'nostr-tools',
    pkg: 'nostr-tools',
    async open(uri, clientSecret) {
      const bp = await parseUri(uri)
      relays = bp.relays
      pool = new SimplePool({ websocketImplementation: WebSocket })
      signer = BunkerSigner.fromBunker(clientSecret, bp, { pool })
    },
    connect: () => signer.connect(),
    getPublicKey: () => signer.getPublicKey(),
    sign: template => signer.signEvent(template),
    nip44Encrypt: (pk, text) => signer.nip44Encrypt(pk, text),
    nip44Decrypt: (pk, payload) => signer.nip44Decrypt(pk, payload),
    logout: () => signer.logout(),
    close() {
      signer?.close()
      pool?.close(relays)
      pool?.destroy()
    },
  }
}

function main() {
  if (process.argv[2] === '--matrix') return runMatrix(matrixClient(), process.argv.slice(3))
  installCrashGuards()
  startGlobalTimeout()
  const args = process.argv.slice(2)
  if (args[0] === '--expect-error') return runExpectError(args[1], args[2])
  if (args.length !== 2) return fail('args', USAGE)
  return runFull(args[0], args[1])
}

main()
