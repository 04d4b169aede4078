// welshman's NIP-46 client (`Nip46Broker` and `Nip46Signer` from @welshman/signer) in the client
// matrix (matrix.mjs, README.md): driven as Coracle drives it.
//
// Usage: node welshman_client.mjs <bunker-uri> <third-party-secret-hex>
//
// Coracle's bunker login (src/app/views/LoginBunker.svelte,
// https://github.com/coracle-social/coracle/blob/ed85a43461a7153fab621e338378efd2ab184617/src/app/views/LoginBunker.svelte#L43-L67
// and its `finalize`, #L29-L41): `Nip46Broker.parseBunkerUrl(input)`, a fresh client secret,
// `new Nip46Broker({relays, clientSecret, signerPubkey})`, `broker.connect(connectSecret,
// nip46Perms)`, which also sends `switch_relays`; a result of "ack" or the secret logs in:
// `broker.getPublicKey()`, the session keeps `broker.params.relays`, and `broker.cleanup()`. From
// then on the app signs through `getSigner(session)`, which builds `new Nip46Signer(new
// Nip46Broker({clientSecret, signerPubkey, relays}))` (welshman's packages/app/src/session.ts,
// https://github.com/coracle-social/welshman/blob/c6847fa7c9f88a2c7334fdcea9867890da1fba41/packages/app/src/session.ts#L260-L266).
//
// - welshman's sockets come from `isomorphic-ws`, which is `ws` on Node: nothing to install.
// - welshman has no NIP-46 logout (Coracle's logout only forgets the session): the matrix skips it.
// - welshman holds every error reply back for 3 s before the caller sees it ("Delay errors in case
//   there's a zombie signer out there clogging things up", Nip46Receiver in
//   https://github.com/coracle-social/welshman/blob/c6847fa7c9f88a2c7334fdcea9867890da1fba41/packages/signer/src/signers/nip46.ts#L165-L168),
//   so a refusal surfaces after 3 s at the earliest; `errorHoldMs` tells the matrix.
// - A refusal rejects with the whole response object ({id, error, …}); its `error` is the text.

import { Nip46Broker, Nip46Signer } from '@welshman/signer'
import { bytesToHex } from 'nostr-tools/utils'
import { describe, runMatrix } from './matrix.mjs'

// Coracle's connect perms: `nip46Perms` from @welshman/app, which Coracle imports and passes to
// `broker.connect` (LoginBunker.svelte line 58 above). Defined at
// https://github.com/coracle-social/welshman/blob/c6847fa7c9f88a2c7334fdcea9867890da1fba41/packages/app/src/session.ts#L216
const NIP46_PERMS = 'sign_event:22242,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt'

/** welshman's hold on error replies (see above). */
const ERROR_HOLD_MS = 3000

function welshmanClient() {
  let login
  let signer
  let clientSecret
  return {
    name: 'welshman',
    pkg: '@welshman/signer',
    errorHoldMs: ERROR_HOLD_MS,
    open(uri, secret) {
      clientSecret = bytesToHex(secret)
      login = Nip46Broker.parseBunkerUrl(uri)
      if (!login.signerPubkey || login.relays.length === 0) throw new Error(`welshman cannot parse ${uri}`)
      login.broker = new Nip46Broker({ relays: login.relays, clientSecret, signerPubkey: login.signerPubkey })
    },
    async connect() {
      const result = await login.broker.connect(login.connectSecret, NIP46_PERMS)
      if (!['ack', login.connectSecret].includes(result)) throw new Error(`connect answered ${JSON.stringify(result)}`)
    },
    async getPublicKey() {
      const { broker, signerPubkey } = login
      const pubkey = await broker.getPublicKey()
      const relays = broker.params.relays
      broker.cleanup()
      signer = new Nip46Signer(new Nip46Broker({ clientSecret, signerPubkey, relays }))
      const again = await signer.getPubkey()
      if (again !== pubkey) throw new Error(`the session's signer says ${again}, the login said ${pubkey}`)
      return pubkey
    },
    sign: template => signer.sign(template),
    nip44Encrypt: (pk, text) => signer.nip44.encrypt(pk, text),
    nip44Decrypt: (pk, payload) => signer.nip44.decrypt(pk, payload),
    logout: null,
    errorText: err => (typeof err?.error === 'string' ? err.error : describe(err)),
    close() {
      login?.broker.cleanup()
      signer?.broker.cleanup()
    },
  }
}

runMatrix(welshmanClient(), process.argv.slice(2))
