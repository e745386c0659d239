// The Colyseus reference for the fan-out benchmark: one room ("chat") that
// broadcasts every "chat" message to all its clients, the sender too, in the
// same shape as shardd's chat.msg (Colyseus encodes a broadcast once).
// Usage: node colyseus_room.mjs PORT   (prints "port N" when listening)
import { Server, Room } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';

class ChatRoom extends Room {
  onCreate() {
    this.maxClients = 100000;
    this.autoDispose = false;
    let id = 0;
    this.onMessage('chat', (client, m) => {
      this.broadcast('chat', {
        id: ++id, channel: 'bench', from: { id: 1, name: 'sender' }, text: String(m?.text ?? ''), ts: Date.now(),
      });
    });
  }
}

const port = Number(process.argv[2] ?? 0);
const server = new Server({
  transport: new WebSocketTransport({ maxPayload: 65536, perMessageDeflate: false }),
  greet: false,
});
server.define('chat', ChatRoom);
await server.listen(port, '127.0.0.1');
console.log(`port ${port}`);
process.on('SIGTERM', () => process.exit(0));
