// Drives a swarmfs remote server with the real npm webtorrent-remote 2.1.0 client over
// newline-delimited JSON on TCP, or WebSocket text messages.
// argv: <path to client.js> <port> <magnet> [ws]
'use strict'
const net = require('net')
const http = require('http')
const WebTorrentRemoteClient = require(process.argv[2])
const port = Number(process.argv[3])
const magnet = process.argv[4]

const overWs = process.argv[5] === 'ws'
let client
let sock
if (overWs) {
  // One JSON message per WebSocket text message (node >= 20.10 with --experimental-websocket).
  sock = new WebSocket('ws://127.0.0.1:' + port + '/')
  const early = []
  sock.onopen = function () { while (early.length) sock.send(early.shift()) }
  sock.onmessage = function (e) { client.receive(JSON.parse(e.data)) }
  sock.end = function () { sock.close() }
  client = new WebTorrentRemoteClient(function (m) {
    const text = JSON.stringify(m)
    if (sock.readyState === 1) sock.send(text); else early.push(text)
  }, { heartbeat: 500 })
} else {
  sock = net.connect(port, '127.0.0.1')
  client = new WebTorrentRemoteClient(function (m) { sock.write(JSON.stringify(m) + '\n') }, { heartbeat: 500 })
  let buf = ''
  sock.on('data', function (d) {
    buf += d.toString('utf8')
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line.trim()) client.receive(JSON.parse(line))
    }
  })
}
const seen = []
function fail (e) { console.log('FAIL ' + e); process.exit(1) }
setTimeout(function () { fail('timeout, seen: ' + seen.join(',')) }, 30000)
client.add(magnet, function (err, torrent) {
  if (err) return fail(err)
  seen.push('subscribed')
  for (const ev of ['infohash', 'metadata', 'update', 'download']) torrent.on(ev, function () { if (seen.indexOf(ev) < 0) seen.push(ev) })
  torrent.on('done', function () {
    seen.push('done')
    const server = torrent.createServer()
    server.listen(function () {
      const addr = server.address()
      http.get({ host: addr.address, port: addr.port, path: '/' + torrent.files[0].name, headers: { Range: 'bytes=10-19' } }, function (res) {
        const chunks = []
        res.on('data', function (c) { chunks.push(c) })
        res.on('end', function () {
          const body = Buffer.concat(chunks)
          console.log('OK ' + JSON.stringify({ seen: seen, status: res.statusCode, body: body.toString('hex'),
            name: torrent.name, length: torrent.length, infoHash: torrent.infoHash, progress: torrent.progress, family: addr.family }))
          client.destroy()
          sock.end()
          process.exit(0)
        })
      }).on('error', fail)
    })
  })
})
