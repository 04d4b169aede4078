// NDK's NIP-46 client (`NDKNip46Signer` from @nostr-dev-kit/ndk) in the client matrix
// (matrix.mjs, README.md): driven as NDK's own docs and apps drive it.
//
// Usage: node ndk_client.mjs <bunker-uri> <third-party-secret-hex>
//
// - NDK opens relays with the global `WebSocket`, which Node 20 lacks: NDK's docs say to polyfill
//   it on a server, so the harness installs `ws` there.
// - The app's NDK instance gets bunkerd as its only relay and the outbox model off, so nothing
//   leaves the machine (NDK's default outbox pool would dial public relays).
// - Login is `NDKNip46Signer.bunker(ndk, uri, localKey)` then `blockUntilReady()`, as in
//   https://github.com/nostr-dev-kit/ndk/blob/e51b54c7b45addaa672ea281f5516877bde0bdb5/core/docs/getting-started/signers.md
//   (`blockUntilReady` sends `connect`, then `get_public_key`, then `switch_relays`); then
//   `ndk.signer = signer`, and events are signed with `new NDKEvent(ndk, …).sign()`.
// - NDKNip46Signer has no logout (nor does NDK send one): the matrix skips that step.
// - NDK's `sign` keeps only the `sig` of the bunker's reply and puts it on the event NDK built
//   itself, so the event checked is the one the app holds.

import WebSocket from 'ws'
import NDK, { NDKEvent, NDKNip46Signer } from '@nostr-dev-kit/ndk'
import { bytesToHex } from 'nostr-tools/utils'
import { runMatrix } from './matrix.mjs'

globalThis.WebSocket ??= WebSocket

function ndkClient() {
  let ndk
  let signer
  return {
    name: 'ndk',
    pkg: '@nostr-dev-kit/ndk',
    async open(uri, clientSecret) {
      const relays = new URL(uri).searchParams.getAll('relay')
      ndk = new NDK({ explicitRelayUrls: relays, enableOutboxModel: false })
      await ndk.connect(2000)
      signer = NDKNip46Signer.bunker(ndk, uri, bytesToHex(clientSecret))
    },
    async connect() {
      await signer.blockUntilReady()
      ndk.signer = signer
    },
    async getPublicKey() {
      return (await signer.user()).pubkey
    },
    async sign(template) {
      const event = new NDKEvent(ndk, template)
      await event.sign()
      return event.rawEvent()
    },
    nip44Encrypt: (pk, text) => signer.encrypt(ndk.getUser({ pubkey: pk }), text, 'nip44'),
    nip44Decrypt: (pk, payload) => signer.decrypt(ndk.getUser({ pubkey: pk }), payload, 'nip44'),
    logout: null,
    close() {
      signer?.stop()
      for (const relay of ndk?.pool.relays.values() ?? []) relay.disconnect()
    },
  }
}

runMatrix(ndkClient(), process.argv.slice(2))
