// The Node `ws` reference for the fan-out benchmark: every message a client
// sends ({"op":"chat.send","d":{"text":...}}) goes to every connected
// client, the sender too, as a chat.msg-shaped JSON text serialized once.
// Usage: node ws_broadcast.mjs PORT   (prints "port N" when listening)
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({
  host: '127.0.0.1', port: Number(process.argv[2] ?? 0), maxPayload: 65536, perMessageDeflate: false,
});
let id = 0;
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    const out = JSON.stringify({
      op: 'chat.msg', seq: 0,
      d: { id: ++id, channel: 'bench', from: { id: 1, name: 'sender' }, text: String(m?.d?.text ?? ''), ts: Date.now() },
    });
    for (const c of wss.clients) if (c.readyState === 1) c.send(out);
  });
});
wss.on('listening', () => console.log(`port ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
