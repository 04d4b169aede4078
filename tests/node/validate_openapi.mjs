// OpenAPI validator for the bunkerd e2e suite (tests/e2e/openapi.rs): validates the admin API's
// document with @apidevtools/swagger-parser (an independent OpenAPI 3.0 schema and semantics check)
// and reports ONE line of JSON on stdout.
//
// Usage:
//   node validate_openapi.mjs <openapi.json>
//
// Output and exit codes:
//   {"ok":true,"openapi":"3.0.3","paths":<n>,"operations":<n>}   exit 0: the document is valid
//   {"ok":false,"error":"<validator message>"}                    exit 1: invalid, or unreadable
// Diagnostics go to stderr only.

import { readFileSync, writeSync } from 'node:fs'
import SwaggerParser from '@apidevtools/swagger-parser'

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

function report(value, code) {
  writeSync(1, JSON.stringify(value) + '\n')
  process.exit(code)
}

async function main() {
  const file = process.argv[2]
  if (!file) report({ ok: false, error: 'usage: validate_openapi.mjs <openapi.json>' }, 1)
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  // validate() dereferences $refs in place: give it a copy.
  const api = await SwaggerParser.validate(structuredClone(doc))
  const paths = Object.keys(api.paths ?? {})
  const operations = paths
    .map((p) => Object.keys(api.paths[p]).filter((m) => METHODS.has(m)).length)
    .reduce((a, b) => a + b, 0)
  report({ ok: true, openapi: api.openapi, paths: paths.length, operations }, 0)
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n')
  report({ ok: false, error: String(e?.message ?? e) }, 1)
})
