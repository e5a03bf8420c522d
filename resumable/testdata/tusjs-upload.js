// Uploads one file with tus-js-client, as the mobile app's JS (or a React Native) client would, and
// prints one JSON line: {"ok":true,"url":...,"requests":n,"retries":n,"ms":n} or {"ok":false,"error":...}.
// Input (environment): TUS_ENDPOINT, TUS_FILE, TUS_CHUNK (bytes), TUS_METADATA (JSON object),
// TUS_ACCESS and TUS_REFRESH (tokens), TUS_BASE (where /refresh_token is), TUS_REFRESH_AFTER_MS.
'use strict'
const fs = require('fs')
const tus = require('tus-js-client')

const env = process.env
let access = env.TUS_ACCESS
let refresh = env.TUS_REFRESH
let issued = Date.now()
const refreshAfter = Number(env.TUS_REFRESH_AFTER_MS || 240000)
let requests = 0
let retries = 0

// The access token lives 5 minutes; a long upload refreshes it between requests (the upload belongs
// to the user, not to the token).
async function token () {
  if (refresh && Date.now() - issued > refreshAfter) {
    const res = await fetch(env.TUS_BASE + '/refresh_token', { method: 'POST', headers: { Authorization: 'Bearer ' + refresh } })
    if (res.ok) {
      const body = await res.json()
      access = body.data.access_token
      refresh = body.data.refresh_token
      issued = Date.now()
    }
  }
  return access
}

const started = Date.now()
const file = fs.createReadStream(env.TUS_FILE)
const upload = new tus.Upload(file, {
  endpoint: env.TUS_ENDPOINT,
  chunkSize: Number(env.TUS_CHUNK),
  uploadSize: fs.statSync(env.TUS_FILE).size,
  metadata: JSON.parse(env.TUS_METADATA),
  retryDelays: Array(60).fill(200),
  removeFingerprintOnSuccess: true,
  onBeforeRequest: async (req) => {
    requests++
    req.setHeader('Authorization', 'Bearer ' + await token())
  },
  onShouldRetry: (err, attempt, options) => {
    retries++
    const status = err.originalResponse ? err.originalResponse.getStatus() : 0
    return status === 0 || status >= 500 || status === 409 || status === 423
  },
  onError: (err) => {
    console.log(JSON.stringify({ ok: false, error: String(err), requests, retries }))
    process.exit(1)
  },
  onSuccess: () => {
    console.log(JSON.stringify({ ok: true, url: upload.url, requests, retries, ms: Date.now() - started }))
  }
})
upload.start()
