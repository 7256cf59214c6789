/**
 * An in-process aedes broker on a loopback port for fast tests, restartable on the same port (to test
 * reconnects), with hooks for authentication and a view of connected clients and published packets.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { serveBroker, type ServedBroker } from '../../src/standin/serve';

export interface TestBrokerOptions {
  port?: number;
  /** Return a CONNACK code (0 accepts) for username/password; default accepts everyone. */
  authenticate?: (clientId: string, username: string | undefined, password: string | undefined) => number;
  /** Called for every PUBLISH from a client (not $SYS). */
  onPublish?: (topic: string, payload: Buffer, clientId: string | undefined) => void;
  /** Called when a client acknowledges a QoS 1 delivery (PUBACK to the broker). */
  onAck?: (clientId: string | undefined, messageId: number | undefined) => void;
}

export interface TestBroker {
  port: number;
  url: string;
  /** Client ids currently connected. */
  clients(): string[];
  /** Every client PUBLISH seen since start (also across restarts). */
  published: { topic: string; payload: string; clientId?: string; qos: number }[];
  stop(): Promise<void>;
  /** Stop and start again on the same port (a broker restart mid-stream). */
  restart(downMs?: number): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function startBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const port = options.port ?? (await freePort());
  const published: TestBroker['published'] = [];
  let current: ServedBroker | undefined;

  async function up(): Promise<void> {
    const { Aedes } = await import('aedes');
    const broker: any = await Aedes.createBroker();
    if (options.authenticate) {
      broker.authenticate = (client: any, username: string | undefined, password: Buffer | undefined, cb: any) => {
        const code = options.authenticate!(client.id, username, password?.toString());
        if (code === 0) return cb(null, true);
        const err: any = new Error('refused');
        err.returnCode = code;
        cb(err, false);
      };
    }
    broker.on('publish', (packet: any, client: any) => {
      if (!client) return;
      const payload = Buffer.from(packet.payload);
      published.push({ topic: packet.topic, payload: payload.toString(), clientId: client.id, qos: packet.qos });
      options.onPublish?.(packet.topic, payload, client.id);
    });
    if (options.onAck) broker.on('ack', (packet: any, client: any) => options.onAck!(client?.id, packet?.messageId));
    current = await serveBroker(broker, port);
  }

  async function down(): Promise<void> {
    const c = current;
    current = undefined;
    await c?.close();
  }

  await up();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    clients: () => (current ? Object.keys(current.broker.clients) : []),
    published,
    stop: down,
    async restart(downMs = 200) {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
  };
}

/** Polls a condition until it holds (a failure limit, not a timing assertion). */
/** Waits until `cond` holds (a promise is awaited: an async condition is never "true" by being a promise). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
