// NIP-46 client-initiated pairing harness: nostr-tools' BunkerSigner.fromURI, driven the way a web
// app drives it (it shows a nostrconnect:// URI, waits for the signer on the relays it named,
// then sends requests), and steered by the test line by line.
//
// Usage:
//   node nostrconnect_client.mjs <relay-url>...
//
// Environment:
//   SKIP_SWITCH=1              do not ask the signer to switch relays (stay on the URI's relays)
//   AUTH=1                     answer relays' NIP-42 challenges with the client key
//   PERMS                      comma-separated perms to ask for in the URI
//   NOSTRCONNECT_TIMEOUT_MS    each step's timeout, default 30000
//   DEBUG=1                    log every websocket frame to stderr
//
// Protocol: stdout carries one JSON object per line, stdin one command per line.
//   out {"uri": "<nostrconnect://…>", "client_pubkey": "<hex>"}   at once
//   out {"paired": true, "remote_signer": "<hex>", "relays": [...]}  once fromURI resolved
//   in  "sign [kind]"  → out {"signed": <event>, "user_pubkey": "<hex>"} or {"error": "..."}
//                        (kind 1 by default; kind 0 signs a profile)
//   in  "quit"  → exit 0
//   out {"auth_url": "<url>"}  whenever the signer asks for an approval (onauth)
// A failure prints {"error": "..."} and exits 1.

import { writeSync } from 'node:fs'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import { BunkerSigner, createNostrConnectURI } from 'nostr-tools/nip46'
import { SimplePool } from 'nostr-tools/pool'
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import { bytesToHex } from 'nostr-tools/utils'

const relays = process.argv.slice(2)
const TIMEOUT_MS = Number(process.env.NOSTRCONNECT_TIMEOUT_MS || 30000)

function out(obj) {
  writeSync(1, JSON.stringify(obj) + '\n')
}

function fail(err) {
  out({ error: String(err?.message ?? err) })
  process.exit(1)
}

function within(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: timed out`)), TIMEOUT_MS)),
  ])
}

if (relays.length === 0) fail('usage: nostrconnect_client.mjs <relay-url>...')

const secretKey = generateSecretKey()
const clientPubkey = getPublicKey(secretKey)
const secret = bytesToHex(generateSecretKey()).slice(0, 32)
const uri = createNostrConnectURI({
  clientPubkey,
  relays,
  secret,
  perms: process.env.PERMS ? process.env.PERMS.split(',') : ['sign_event:1', 'get_public_key'],
  name: 'nostr-tools e2e',
  url: 'https://example.org',
})
// Reconnecting relays re-open the signer's subscription after a relay restarts.
const debug = (...a) => process.env.DEBUG && console.error(new Date().toISOString(), ...a)
class LoggedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args)
    debug('ws open', args[0])
    this.addEventListener('close', () => debug('ws closed', args[0]))
    const send = this.send.bind(this)
    this.send = (data) => {
      debug('ws send', String(data).slice(0, 120))
      return send(data)
    }
    this.addEventListener('message', (m) => debug('ws recv', String(m.data).slice(0, 120)))
  }
}
const pool = new SimplePool({
  websocketImplementation: process.env.DEBUG ? LoggedWebSocket : WebSocket,
  enableReconnect: true,
  automaticallyAuth:
    process.env.AUTH === '1' ? () => async (template) => finalizeEvent(template, secretKey) : undefined,
})
out({ uri, client_pubkey: clientPubkey })

let signer
try {
  signer = await BunkerSigner.fromURI(
    secretKey,
    uri,
    {
      pool,
      skipSwitchRelays: process.env.SKIP_SWITCH === '1',
      onauth: (url) => out({ auth_url: url }),
    },
    AbortSignal.timeout(TIMEOUT_MS),
  )
} catch (err) {
  fail(`fromURI: ${err?.message ?? err}`)
}
out({ paired: true, remote_signer: signer.bp.pubkey, relays: signer.bp.relays })

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const [command, arg] = line.trim().split(/\s+/)
  if (command === 'quit') break
  if (command !== 'sign') {
    out({ error: `unknown command ${command}` })
    continue
  }
  const kind = Number(arg ?? 1)
  try {
    const userPubkey = await within(signer.getPublicKey(), 'get_public_key')
    const event = await within(
      signer.signEvent({
        kind,
        created_at: Math.floor(Date.now() / 1000),
        tags: [],
        content: kind === 0 ? '{"name":"approval e2e"}' : 'signed through nostrconnect',
      }),
      'sign_event',
    )
    if (!verifyEvent(event) || event.pubkey !== userPubkey) throw new Error('bad signature')
    out({ signed: event, user_pubkey: userPubkey })
  } catch (err) {
    out({ error: String(err?.message ?? err) })
  }
}
try {
  await signer.close()
} catch {}
pool.destroy()
process.exit(0)
