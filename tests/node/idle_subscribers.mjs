// Idle subscribers, opened by a third-party websocket client (`ws`), for bunkerd's memory figure
// and its attack suite: COUNT websockets, each holding one REQ for kind 24133 `#p` <a random key>
// (as a NIP-46 client's subscription for its replies), spread over ADDRESSES loopback source
// addresses (127.0.1.1, 127.0.1.2, …) so the per-address connection limit is not what is measured.
//
// Usage:
//   node idle_subscribers.mjs <ws-url> <count> [addresses=64] [hold-seconds=120]
//
// Prints `ready <count> <milliseconds>` once every connection has its EOSE, then holds them until
// stdin closes or the hold time passes, then closes them and prints `closed <still-open>`; a
// connection that fails or closes early is reported on stderr and makes the exit code 1. Bounded:
// 30 s to open everything, the hold time, 256 connections opening at once.

import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'

const [url, countArg, addressesArg = '64', holdArg = '120'] = process.argv.slice(2)
if (!url || !countArg) {
  console.error('usage: idle_subscribers.mjs <ws-url> <count> [addresses] [hold-seconds]')
  process.exit(64)
}
const count = Number(countArg)
const addresses = Number(addressesArg)
const holdMs = Number(holdArg) * 1000
const OPEN_TIMEOUT_MS = 30_000
const AT_ONCE = 256

const sockets = []
let failed = 0

function open(i) {
  return new Promise((resolve) => {
    const localAddress = `127.0.1.${1 + (i % addresses)}`
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false })
    const sub = `s${i}`
    let done = false
    const finish = (ok, why) => {
      if (done) return
      done = true
      if (!ok) {
        failed += 1
        console.error(`connection ${i}: ${why}`)
      }
      resolve()
    }
    ws.on('open', () => {
      const p = randomBytes(32).toString('hex')
      ws.send(JSON.stringify(['REQ', sub, { kinds: [24133], '#p': [p] }]))
    })
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString())
      if (msg[0] === 'EOSE' && msg[1] === sub) finish(true)
      else if (msg[0] === 'CLOSED') finish(false, `CLOSED ${msg[2]}`)
    })
    ws.on('error', (e) => finish(false, e.message))
    ws.on('close', (code) => {
      if (!done) finish(false, `closed ${code} before EOSE`)
      else if (!closing) {
        failed += 1
        console.error(`connection ${i}: closed ${code} while held`)
      }
    })
    sockets.push(ws)
  })
}

let closing = false
const started = Date.now()
const opening = (async () => {
  for (let i = 0; i < count; i += AT_ONCE) {
    const batch = []
    for (let j = i; j < Math.min(count, i + AT_ONCE); j++) batch.push(open(j))
    await Promise.all(batch)
  }
})()
const timedOut = await Promise.race([
  opening.then(() => false),
  new Promise((r) => setTimeout(() => r(true), OPEN_TIMEOUT_MS)),
])
if (timedOut || failed > 0) {
  console.error(`opening failed: ${failed} failed, timed out: ${timedOut}`)
  process.exit(1)
}
console.log(`ready ${count} ${Date.now() - started}`)

await new Promise((resolve) => {
  const timer = setTimeout(resolve, holdMs)
  process.stdin.on('end', () => {
    clearTimeout(timer)
    resolve()
  })
  process.stdin.resume()
})
closing = true
const stillOpen = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length
for (const ws of sockets) ws.terminate()
console.log(`closed ${stillOpen}`)
process.exit(failed > 0 ? 1 : 0)
