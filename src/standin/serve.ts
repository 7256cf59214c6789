/**
 * An aedes broker behind a plain TCP listener that can be taken down hard (every socket destroyed, as a crash
 * or restart would) and brought up again on the same port: what the stand-in brokers of the demo and the tests
 * have in common.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ServedBroker {
  /** The aedes instance (its `clients`, `publish`, hooks). */
  broker: any;
  port: number;
  /** Destroy every socket, stop listening, close the broker. */
  close(): Promise<void>;
}

/** Listen on `host:port` (0: a free port) and hand each connection to `broker.handle`. */
export async function serveBroker(broker: any, port: number, host = '127.0.0.1'): Promise<ServedBroker> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    throw err;
  }
  return {
    broker,
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
