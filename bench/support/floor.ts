/**
 * The floor of any MQTT server written for Node.js: a responder that does only what the simulated devices need
 * (CONNACK, PUBACK, PINGRESP) with one `data` event and one `write` per socket event, no parser library, no session,
 * no flow. Not a broker and not part of the package: the endpoint benchmark runs it as a reference row, to show how
 * much of a path's CPU per record is the Node.js socket work that no Node.js broker can avoid.
 */
import * as net from 'node:net';
import { eachPacket } from './frames';

const CONNACK = [0x20, 0x02, 0x00, 0x00];
const PINGRESP = [0xd0, 0x00];

/** Calls `onPublish` with each PUBLISH payload; resolves with the listening server. */
export function startFloor(port: number, onPublish: (payload: Buffer) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending: Buffer | undefined;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      // All answers to one read go out in one write (what the endpoint's corked writes do too).
      const out: number[] = [];
      pending = eachPacket(buf, (header, body, end) => {
        const type = header >> 4;
        if (type === 3) {
          const qos = (header >> 1) & 3;
          const topicEnd = body + 2 + buf.readUInt16BE(body);
          if (qos > 0) out.push(0x40, 0x02, buf[topicEnd], buf[topicEnd + 1]);
          onPublish(buf.subarray(qos > 0 ? topicEnd + 2 : topicEnd, end));
        } else if (type === 1) out.push(...CONNACK);
        else if (type === 12) out.push(...PINGRESP);
        else if (type === 14) socket.end();
      });
      if (out.length) socket.write(Buffer.from(out));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
