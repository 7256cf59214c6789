/**
 * The floor of any MQTT server written for Node.js: a responder that does only what the simulated devices need
 * (CONNACK, PUBACK, PINGRESP) with one `data` event and one 4-byte `write` per packet, no parser library, no session,
 * no flow. Not a broker and not part of the package: the endpoint benchmark runs it as a reference row, to show how
 * much of a path's CPU per record is the Node.js socket work that no Node.js broker can avoid.
 */
import * as net from 'node:net';

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const PINGRESP = Buffer.from([0xd0, 0x00]);

/** Calls `onPublish` with each PUBLISH payload; resolves with the listening server. */
export function startFloor(port: number, onPublish: (payload: Buffer) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending: Buffer | undefined;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      // All answers to one read go out in one write (what the endpoint's corked writes do too).
      const out: number[] = [];
      let at = 0;
      while (at < buf.length) {
        // Fixed header: type/flags, then the remaining length (variable byte integer).
        let len = 0;
        let mul = 1;
        let i = at + 1;
        for (; i < buf.length; i++) {
          len += (buf[i] & 0x7f) * mul;
          mul *= 128;
          if ((buf[i] & 0x80) === 0) break;
        }
        if (i >= buf.length || i + 1 + len > buf.length) break;
        const body = i + 1;
        const type = buf[at] >> 4;
        if (type === 3) {
          const qos = (buf[at] >> 1) & 3;
          const topicEnd = body + 2 + buf.readUInt16BE(body);
          const idEnd = qos > 0 ? topicEnd + 2 : topicEnd;
          if (qos > 0) out.push(0x40, 0x02, buf[topicEnd], buf[topicEnd + 1]);
          onPublish(buf.subarray(idEnd, body + len));
        } else if (type === 1) out.push(...CONNACK);
        else if (type === 12) out.push(...PINGRESP);
        else if (type === 14) socket.end();
        at = body + len;
      }
      if (out.length) socket.write(Buffer.from(out));
      if (at < buf.length) pending = Buffer.from(buf.subarray(at));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
