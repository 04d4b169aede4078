// NIP-49 decryption with nostr-tools (its `nip49.decrypt`, as a client opens an exported key), for
// the bunkerd e2e suite (tests/e2e/key_export.rs). Reads the ncryptsec and the password from the
// environment (never argv) and reports ONE line of JSON on stdout.
//
// Usage:
//   NCRYPTSEC=ncryptsec1… PASSWORD=… node nip49_decrypt.mjs
//
// Output and exit codes:
//   {"ok":true,"pubkey":"<64 hex>"}   exit 0: decrypted; the public key of the key it holds
//   {"ok":false,"error":"<message>"}  exit 1: did not decrypt
// The secret key itself is never printed.

import { writeSync } from 'node:fs'
import { decrypt } from 'nostr-tools/nip49'
import { getPublicKey } from 'nostr-tools/pure'

function report(value, code) {
  writeSync(1, JSON.stringify(value) + '\n')
  process.exit(code)
}

try {
  const secret = decrypt(process.env.NCRYPTSEC ?? '', process.env.PASSWORD ?? '')
  report({ ok: true, pubkey: getPublicKey(secret) }, 0)
} catch (e) {
  report({ ok: false, error: String(e?.message ?? e) }, 1)
}
