/**
 * A loopback broker that behaves like Datacake's (aedes):
 * - token auth: username === password === the token, else CONNACK 4 (bad username/password) or 5 (no credentials);
 * - clients may subscribe only under `dtck/` and publish only under `dtck-pub/` (any other publish closes the
 *   client, counted in `refusedWrites`);
 * - every accepted write `dtck-pub/<p>/<d>/<F>` is recorded and echoed on `dtck/<p>/<d>/<F>` (booleans the way
 *   Datacake's Python demo sees them, `True`/`False`, when `pythonBooleans`);
 * - `datacakeWrites(topic, payload)` publishes on `dtck/` as Datacake does when a field is set elsewhere;
 * - restartable on the same port; counts connection attempts.
 */
import net from 'node:net';
import { freePort } from './broker';

export const TOKEN = 'a'.repeat(20) + 'b'.repeat(20);

export interface DatacakeBrokerFixture {
  port: number;
  url: string;
  token: string;
  /** CONNECT packets seen (accepted or refused), since start. */
  connectAttempts: number;
  refusedConnects: number;
  refusedWrites: number;
  /** Accepted writes on dtck-pub/, in order. */
  writes: { topic: string; payload: string; qos: number; retain: boolean }[];
  clients(): string[];
  /** Publish on dtck/ as Datacake (a field set from the dashboard, a device, …). */
  datacakeWrites(topic: string, payload: string): Promise<void>;
  stop(): Promise<void>;
  restart(downMs?: number): Promise<void>;
}

export async function startDatacakeBroker(options: { port?: number; pythonBooleans?: boolean; token?: string } = {}): Promise<DatacakeBrokerFixture> {
  const port = options.port ?? (await freePort());
  const token = options.token ?? TOKEN;
  let current: { server: net.Server; broker: any; sockets: Set<net.Socket> } | undefined;

  const fixture: DatacakeBrokerFixture = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    token,
    connectAttempts: 0,
    refusedConnects: 0,
    refusedWrites: 0,
    writes: [],
    clients: () => (current ? Object.keys(current.broker.clients) : []),
    datacakeWrites(topic, payload) {
      const broker = current?.broker;
      if (!broker) return Promise.reject(new Error('broker is down'));
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err: Error | undefined) => (err ? reject(err) : resolve())),
      );
    },
    stop: down,
    async restart(downMs = 200) {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
  };

  function echoText(payload: string): string {
    if (!options.pythonBooleans) return payload;
    if (payload === 'true') return 'True';
    if (payload === 'false') return 'False';
    return payload;
  }

  async function up(): Promise<void> {
    const { Aedes } = await import('aedes');
    const broker: any = await Aedes.createBroker();
    broker.authenticate = (_client: any, username: string | undefined, password: Buffer | undefined, cb: any) => {
      fixture.connectAttempts++;
      if (username === token && password?.toString() === token) return cb(null, true);
      fixture.refusedConnects++;
      const err: any = new Error('refused');
      err.returnCode = username ? 4 : 5;
      cb(err, false);
    };
    broker.authorizePublish = (client: any, packet: any, cb: any) => {
      if (!client) return cb(null); // the broker's own publishes (echoes, datacakeWrites)
      if (typeof packet.topic === 'string' && /^dtck-pub\/[^/]+\/[^/]+\/[^/]+$/.test(packet.topic)) return cb(null);
      fixture.refusedWrites++;
      cb(new Error(`publish to ${packet.topic} not allowed`));
    };
    broker.authorizeSubscribe = (_client: any, sub: any, cb: any) => cb(null, /^dtck\//.test(sub.topic) ? sub : null);
    broker.on('publish', (packet: any, client: any) => {
      if (!client || !packet.topic.startsWith('dtck-pub/')) return;
      const payload = Buffer.from(packet.payload).toString();
      fixture.writes.push({ topic: packet.topic, payload, qos: packet.qos, retain: !!packet.retain });
      const echo = 'dtck/' + packet.topic.slice('dtck-pub/'.length);
      setImmediate(() => broker.publish({ cmd: 'publish', topic: echo, payload: Buffer.from(echoText(payload)), qos: 1, retain: false, dup: false }, () => undefined));
    });
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    current = { server, broker, sockets };
  }

  async function down(): Promise<void> {
    const c = current;
    current = undefined;
    if (!c) return;
    for (const s of c.sockets) s.destroy();
    await new Promise<void>((r) => c.server.close(() => r()));
    await new Promise<void>((r) => c.broker.close(() => r()));
  }

  await up();
  return fixture;
}
