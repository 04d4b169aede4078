// The attacks of bunkerd's attack suite (benches/scripts/attacks.sh), each run by that script
// against a freshly started release bunkerd, which measures its memory around them. Every attack is
// bounded in count and time and uses loopback addresses only.
//
// Usage (RELAY and ADMIN are host:port; TOKEN is the operator token):
//   node attacks.mjs stalled  <RELAY> <ADMIN> <TOKEN> <readers> <replies>
//   node attacks.mjs forged   <RELAY> <ADMIN> <TOKEN> <addresses> <events-per-address>
//   node attacks.mjs keepalive <RELAY> <addresses> <connections-per-address>
//   node attacks.mjs nosub    <RELAY> <connections>
//   node attacks.mjs nip05    <ADMIN> <TOKEN>
//   node attacks.mjs nip49    <ADMIN> <TOKEN> <log_n>
//
// Each prints one JSON line of figures and exits 0 when the attack was held as the suite requires
// (what each checks is in its function's comment), 1 otherwise.

import net from 'node:net'
import { bech32 } from '@scure/base'
import WebSocket from 'ws'
import { finalizeEvent, generateSecretKey, getEventHash, getPublicKey } from 'nostr-tools/pure'
import * as nip44 from 'nostr-tools/nip44'
import * as nip49 from 'nostr-tools/nip49'

const [command, ...args] = process.argv.slice(2)
const deadline = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))

async function admin(addr, token, method, path, body) {
  const res = await fetch(`http://${addr}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

async function metric(addr, name, labels = '') {
  const text = await (await fetch(`http://${addr}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line ? Number(line.split(' ').pop()) : 0
}

/** A tenant with one user and a bunker URI; returns ids, the remote signer and the secret. */
async function provision(addrAdmin, token, name, limits) {
  const tenant = (await admin(addrAdmin, token, 'POST', '/v1/tenants', { name })).body
  if (limits) await admin(addrAdmin, token, 'PATCH', `/v1/tenants/${tenant.id}`, { limits })
  const user = (await admin(addrAdmin, token, 'POST', `/v1/tenants/${tenant.id}/users`, {})).body
  const uri = (await admin(addrAdmin, token, 'POST', `/v1/tenants/${tenant.id}/users/${user.id}/bunker-uris`, {})).body
  const secret = new URL(uri.bunker_uri.replace('bunker://', 'http://')).searchParams.get('secret')
  return { tenant: tenant.id, user, remote: user.remote_signer_pubkey, secret }
}

/** A NIP-46 client over one websocket: subscribes to its replies, sends requests, awaits replies. */
class Client {
  constructor(relay, remote) {
    this.sk = generateSecretKey()
    this.pk = getPublicKey(this.sk)
    this.remote = remote
    this.key = nip44.v2.utils.getConversationKey(this.sk, remote)
    this.ws = new WebSocket(`ws://${relay}`, { perMessageDeflate: false })
    this.waiting = new Map()
    this.refusals = []
    this.n = 0
  }
  async open() {
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve)
      this.ws.once('error', reject)
    })
    this.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString())
      if (msg[0] === 'EOSE') this.eose?.()
      if (msg[0] === 'OK' && msg[2] === false) this.refusals.push(msg[3])
      if (msg[0] !== 'EVENT') return
      const reply = JSON.parse(nip44.v2.decrypt(msg[2].content, this.key))
      this.waiting.get(reply.id)?.(reply)
    })
    const eose = new Promise((r) => (this.eose = r))
    this.ws.send(JSON.stringify(['REQ', 'r', { kinds: [24133], '#p': [this.pk], limit: 0 }]))
    await eose
  }
  request(method, params, timeoutMs = 10_000) {
    const id = `a${this.n++}`
    const content = nip44.v2.encrypt(JSON.stringify({ id, method, params }), this.key)
    const event = finalizeEvent({ kind: 24133, created_at: Math.floor(Date.now() / 1000), tags: [['p', this.remote]], content }, this.sk)
    const reply = new Promise((resolve) => this.waiting.set(id, resolve))
    this.ws.send(JSON.stringify(['EVENT', event]))
    return Promise.race([reply, deadline(timeoutMs)])
  }
}

/** A raw websocket from `localAddress` after its 101; `frame` sends a masked text frame. */
function rawWebsocket(relay, localAddress) {
  const [host, port] = relay.split(':')
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port), localAddress })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${relay}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    })
    let head = Buffer.alloc(0)
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onData)
      if (!head.toString().startsWith('HTTP/1.1 101')) return reject(new Error(head.toString()))
      resolve(socket)
    }
    socket.on('data', onData)
  })
}

function textFrame(text) {
  const payload = Buffer.from(text)
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n <= 0xffff ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]) : null
  return Buffer.concat([head, Buffer.alloc(4), payload])
}

// Stalled readers: READERS raw websockets that subscribe to a client's replies and never read,
// while the client asks for REPLIES replies of ~48 KiB (NIP-44 encryption of 36 KB). Holds when
// every reply reaches the reading client (none lost, none late).
async function stalled(relay, addrAdmin, token, readers, replies) {
  const { remote, secret } = await provision(addrAdmin, token, 'stalled', null)
  const client = new Client(relay, remote)
  await client.open()
  const ack = await client.request('connect', [remote, secret])
  if (ack.result !== 'ack') throw new Error(JSON.stringify(ack))
  const sockets = []
  for (let i = 0; i < readers; i++) {
    const s = await rawWebsocket(relay, `127.0.4.${1 + (i % 200)}`)
    s.write(textFrame(JSON.stringify(['REQ', 'w', { kinds: [24133], '#p': [client.pk] }])))
    s.pause()
    s.on('error', () => {})
    sockets.push(s)
  }
  const text = 'x'.repeat(36_000)
  const started = Date.now()
  let ok = 0
  for (let i = 0; i < replies; i++) {
    const reply = await client.request('nip44_encrypt', [client.pk, text])
    if (typeof reply.result === 'string' && reply.result.length > 40_000) ok++
  }
  const figures = { readers, replies, ok, seconds: (Date.now() - started) / 1000 }
  console.log(JSON.stringify(figures))
  for (const s of sockets) s.destroy()
  client.ws.terminate()
  return ok === replies
}

// Forged flood: ADDRESSES connections (one per loopback address) each send EVENTS events that
// claim to be the real client's requests but carry a broken signature, while the real client
// sends 100 requests. Holds when all 100 succeed in time and the tenant's budget metrics did not
// move (no tenant_rate refusal; the tenant's own bucket is 50/s burst 100).
async function forged(relay, addrAdmin, token, addresses, events) {
  const { tenant, remote, secret } = await provision(addrAdmin, token, 'forged', { requests_per_sec: 50, burst: 100 })
  const client = new Client(relay, remote)
  await client.open()
  const ack = await client.request('connect', [remote, secret])
  if (ack.result !== 'ack') throw new Error(JSON.stringify(ack))
  const label = `{tenant="${tenant}"}`
  const limitedBefore = await metric(addrAdmin, 'bunkerd_rate_limited_total', label)
  const invalidBefore = await metric(addrAdmin, 'bunkerd_events_rejected_total', '{reason="invalid"}')
  const template = finalizeEvent({ kind: 24133, created_at: 0, tags: [['p', remote]], content: '' }, client.sk)
  let refused = 0
  const flood = Array.from({ length: addresses }, async (_, a) => {
    const ws = new WebSocket(`ws://${relay}`, { localAddress: `127.0.5.${1 + a}`, perMessageDeflate: false })
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
    let oks = 0
    const done = new Promise((resolve) => ws.on('message', (d) => {
      const m = JSON.parse(d.toString())
      if (m[0] === 'OK') { oks++; if (m[2] === false) refused++; if (oks === events) resolve() }
    }))
    // Built ahead (one encrypted request, a distinct tag per event), and sent in chunks that let
    // the real client's replies through this process's event loop.
    const content = nip44.v2.encrypt(JSON.stringify({ id: `f${a}`, method: 'ping', params: [] }), client.key)
    const created_at = Math.floor(Date.now() / 1000)
    const frames = Array.from({ length: events }, (_, i) => {
      // The id is right; the signature is another event's: only verification tells.
      const ev = { ...template, created_at, content, tags: [['p', remote], ['n', `${a}-${i}`]] }
      ev.id = getEventHash(ev)
      return JSON.stringify(['EVENT', ev])
    })
    for (let i = 0; i < events; i++) {
      ws.send(frames[i])
      if (i % 100 === 99) await new Promise((r) => setImmediate(r))
    }
    await Promise.race([done, deadline(60_000)])
    ws.terminate()
  })
  const started = Date.now()
  let ok = 0, failed = 0
  const errors = []
  const legit = (async () => {
    for (let i = 0; i < 100; i++) {
      try {
        const r = await client.request('ping', [], 5000)
        if (r.result === 'pong') ok++; else failed++
      } catch (e) { failed++; errors.push(e.message) }
    }
  })()
  await Promise.all([...flood, legit])
  const limitedAfter = await metric(addrAdmin, 'bunkerd_rate_limited_total', label)
  const invalidAfter = await metric(addrAdmin, 'bunkerd_events_rejected_total', '{reason="invalid"}')
  const figures = {
    addresses, forged: addresses * events, refused, invalid: invalidAfter - invalidBefore,
    legit_ok: ok, legit_failed: failed, legit_errors: errors, legit_refusals: client.refusals,
    tenant_rate_limited: limitedAfter - limitedBefore,
    seconds: (Date.now() - started) / 1000,
  }
  console.log(JSON.stringify(figures))
  client.ws.terminate()
  return ok === 100 && failed === 0 && refused === addresses * events && limitedAfter === limitedBefore
}

// Keep-alive flood: from each of ADDRESSES loopback addresses, PER connections that each send one
// keep-alive `GET /` and hold the connection. Holds when no address keeps more than its limit
// (256) open and the rest are refused: answered 429, or closed unanswered (a close or a reset) past
// the relay's budget of refusal answers.
async function keepalive(relay, addresses, per) {
  const [host, port] = relay.split(':')
  let held = 0, refused = 0, dropped = 0, other = 0
  const sockets = []
  const one = (localAddress) => new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port), localAddress })
    sockets.push(s)
    let answered = false
    // Refused past the relay's budget of refusal answers: closed without one — cleanly, or with a
    // reset when the request had already arrived unread.
    s.on('error', (e) => {
      if (answered) return
      answered = true
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') dropped++; else other++
      resolve()
    })
    s.on('close', () => { if (!answered) { answered = true; dropped++; resolve() } })
    s.once('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${relay}\r\n\r\n`))
    s.once('data', (d) => {
      if (answered) return
      answered = true
      const status = d.toString().slice(9, 12)
      if (status === '200') held++; else if (status === '429') refused++; else other++
      resolve()
    })
  })
  const started = Date.now()
  for (let a = 0; a < addresses; a++) {
    await Promise.race([Promise.all(Array.from({ length: per }, () => one(`127.0.6.${1 + a}`))), deadline(30_000)])
  }
  const figures = { addresses, per_address: per, held, refused, dropped, other, seconds: (Date.now() - started) / 1000 }
  console.log(JSON.stringify(figures))
  for (const s of sockets) s.destroy()
  return held <= addresses * 256 && held + refused + dropped === addresses * per
}

// Websockets without a subscription: CONNECTIONS of them, idle. Holds when the relay closes every
// one of them (1008) within its idle limit plus 10 s.
async function nosub(relay, connections) {
  const started = Date.now()
  const closes = Array.from({ length: connections }, (_, i) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${relay}`, { localAddress: `127.0.7.${1 + (i % 200)}`, perMessageDeflate: false })
    ws.on('close', (code) => resolve(code))
    ws.on('error', () => resolve(0))
  }))
  const codes = await Promise.race([Promise.all(closes), deadline(120_000)])
  const closed1008 = codes.filter((c) => c === 1008).length
  console.log(JSON.stringify({ connections, closed_1008: closed1008, seconds: (Date.now() - started) / 1000 }))
  return closed1008 === connections
}

// NIP-05: a second tenant claims a domain a first one serves. Holds when it gets 409 and the
// first tenant still answers for the domain.
async function nip05(addrAdmin, token) {
  const a = (await admin(addrAdmin, token, 'POST', '/v1/tenants', { name: 'a' })).body
  const b = (await admin(addrAdmin, token, 'POST', '/v1/tenants', { name: 'b' })).body
  const first = await admin(addrAdmin, token, 'PATCH', `/v1/tenants/${a.id}`, { nip05_domain: 'shared.example' })
  const second = await admin(addrAdmin, token, 'PATCH', `/v1/tenants/${b.id}`, { nip05_domain: 'shared.example' })
  const kept = (await admin(addrAdmin, token, 'GET', `/v1/tenants/${a.id}`)).body
  console.log(JSON.stringify({ first: first.status, second: second.status, code: second.body?.error?.code ?? second.body?.code, holder_kept: kept.nip05_domain === 'shared.example' }))
  return first.status === 200 && second.status === 409 && kept.nip05_domain === 'shared.example'
}

// NIP-49 bomb: an `ncryptsec` whose scrypt cost is 2^LOG_N (2^20: 1 GiB of memory to derive its
// key), imported as a user's key. Holds when it is refused with 400 within 2 s (the script checks
// that memory did not grow by the bomb's size).
async function nip49bomb(addrAdmin, token, logN) {
  const t = (await admin(addrAdmin, token, 'POST', '/v1/tenants', { name: 'bomb' })).body
  const honest = nip49.encrypt(generateSecretKey(), 'password', 1)
  const { words } = bech32.decode(honest, 400)
  const bytes = bech32.fromWords(words)
  bytes[1] = logN
  const bomb = bech32.encode('ncryptsec', bech32.toWords(Uint8Array.from(bytes)), 400)
  const started = Date.now()
  const res = await admin(addrAdmin, token, 'POST', `/v1/tenants/${t.id}/users`, { ncryptsec: bomb, password: 'password' })
  const ms = Date.now() - started
  console.log(JSON.stringify({ log_n: logN, status: res.status, ms, error: res.body?.error ?? res.body }))
  return res.status === 400 && ms < 2000
}

const run = {
  stalled: () => stalled(args[0], args[1], args[2], Number(args[3]), Number(args[4])),
  forged: () => forged(args[0], args[1], args[2], Number(args[3]), Number(args[4])),
  keepalive: () => keepalive(args[0], Number(args[1]), Number(args[2])),
  nosub: () => nosub(args[0], Number(args[1])),
  nip05: () => nip05(args[0], args[1]),
  nip49: () => nip49bomb(args[0], args[1], Number(args[2])),
}[command]
if (!run) {
  console.error('usage: attacks.mjs stalled|forged|keepalive|nosub|nip05|nip49 …')
  process.exit(64)
}
try {
  process.exit((await run()) ? 0 : 1)
} catch (e) {
  console.error(`${command}: ${e.stack ?? e}`)
  process.exit(1)
}
