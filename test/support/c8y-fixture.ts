/**
 * An independent Cumulocity Core MQTT stand-in written from the documentation (reference §1, §2, §5, §11), for
 * the device-side nodes: aedes behind a socket front that reads the CONNECT itself so it can answer ANY CONNACK
 * code 1–5 on demand (aedes alone maps most refusals to 5), checks the ClientId (`d:<id>[:<X-ID>]`, or the plain
 * id for the bootstrap) and the username (`<tenant>/<user>`), counts connection attempts, records what devices
 * publish, sends downstream lines, and answers `s/ucr` with `70` after N polls. No code shared with src/.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mqttPacket = require('mqtt-packet') as { parser(opts?: object): any; generate(packet: object): Buffer };

export interface FixtureOptions {
  port?: number;
  tenant?: string;
  /** Device users: `user` (without tenant) → password. */
  users?: Record<string, string>;
  bootstrapPassword?: string;
  /** Credentials handed out on `s/dcr` after `acceptAfter` polls. */
  grant?: { username: string; password: string };
  acceptAfter?: number;
}

export interface Attempt {
  clientId: string;
  username?: string;
  code: number;
  at: number;
  clean: boolean;
  keepalive: number;
  will?: { topic: string; payload: string; qos: number };
}

export interface C8yFixture {
  port: number;
  url: string;
  attempts: Attempt[];
  published: { topic: string; payload: string; clientId: string; qos: number }[];
  /** CONNACK code to answer the next connects with (undefined: normal checks). */
  forceCode?: number;
  /** Client ids connected now. */
  clients(): string[];
  subscriptions(clientId: string): string[];
  polls: number;
  /** Send a downstream message to every subscriber. */
  send(topic: string, payload: string): Promise<void>;
  /** Lines published on `topic` (all payloads split into lines). */
  lines(topic?: string): string[];
  /** Drop a client's socket without a DISCONNECT (network loss): the broker sends its last will. */
  kick(clientId: string): void;
  /** Hold every client PUBLISH (and so its PUBACK) until `release()` is called. */
  hold(): { release(): void; held(): number };
  stop(): Promise<void>;
  restart(downMs?: number): Promise<void>;
}

const CLIENT_ID = /^(?:d:)?([^:]+)(?::([^:]+))?$/;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function startC8yFixture(options: FixtureOptions = {}): Promise<C8yFixture> {
  const port = options.port ?? (await freePort());
  const tenant = options.tenant ?? 't100';
  const users = { ...(options.users ?? {}) };
  let current: { server: net.Server; broker: any; sockets: Set<net.Socket> } | undefined;
  let holding: (() => void)[] | undefined;

  const fx: C8yFixture = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    attempts: [],
    published: [],
    polls: 0,
    clients: () => (current ? Object.keys(current.broker.clients) : []),
    subscriptions: (clientId) => {
      const c = current?.broker.clients[clientId];
      return c ? Object.keys(c.subscriptions ?? {}) : [];
    },
    async send(topic, payload) {
      const b = current?.broker;
      if (!b) throw new Error('fixture is down');
      await new Promise<void>((r) => b.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, () => r()));
    },
    lines: (topic) => fx.published.filter((p) => topic === undefined || p.topic === topic).flatMap((p) => p.payload.split('\n')),
    kick: (clientId) => current?.broker.clients[clientId]?.conn.destroy(),
    hold() {
      const waiting: (() => void)[] = [];
      holding = waiting;
      return {
        held: () => waiting.length,
        release() {
          holding = undefined;
          for (const go of waiting.splice(0)) go();
        },
      };
    },
    stop: down,
    async restart(downMs = 200) {
      await down();
      await new Promise((r) => setTimeout(r, downMs));
      await up();
    },
  };

  /** The CONNACK code the documented rules give (0 = accepted). */
  function decide(clientId: string, username: string | undefined, password: string | undefined): number {
    if (fx.forceCode !== undefined) return fx.forceCode;
    const m = CLIENT_ID.exec(clientId);
    if (!m) return 2; // a ':' in the device id, or an empty id
    if (username === 'management/devicebootstrap') {
      return options.bootstrapPassword && password === options.bootstrapPassword && !clientId.startsWith('d:') ? 0 : 4;
    }
    if (!clientId.startsWith('d:')) return 2;
    const [t, user] = (username ?? '').split('/');
    if (!user || t !== tenant) return 4;
    return users[user] !== undefined && users[user] === password ? 0 : 4;
  }

  async function up(): Promise<void> {
    const { Aedes } = await import('aedes');
    const broker: any = await Aedes.createBroker();
    broker.on('publish', (packet: any, client: any) => {
      if (!client) return;
      const payload = Buffer.from(packet.payload).toString();
      fx.published.push({ topic: packet.topic, payload, clientId: client.id, qos: packet.qos });
      if (packet.topic === 's/uat') void fx.send('s/dat', `71,jwt-for-${client.id}`);
      if (packet.topic === 's/ucr' && options.grant) {
        fx.polls++;
        if (fx.polls >= (options.acceptAfter ?? 1)) {
          users[options.grant.username] = options.grant.password;
          void fx.send('s/dcr', `70,${tenant},${options.grant.username},${options.grant.password}`);
        }
      }
    });
    // aedes sends the PUBACK once authorizePublish called back: holding the callback holds the PUBACK.
    broker.authorizePublish = (_client: any, _packet: any, cb: any) => (holding ? holding.push(() => cb(null)) : cb(null));
    // Cumulocity: no subscriptions to upstream topics
    broker.authorizeSubscribe = (_client: any, sub: any, cb: any) => cb(null, /^s\/u/.test(sub.topic) ? null : sub);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      const parser = mqttPacket.parser();
      const chunks: Buffer[] = [];
      let decided = false;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        parser.parse(chunk);
      };
      parser.on('packet', (packet: any) => {
        if (decided || packet.cmd !== 'connect') return;
        decided = true;
        socket.removeListener('data', onData);
        socket.pause();
        const password = packet.password === undefined ? undefined : Buffer.from(packet.password).toString();
        const code = decide(packet.clientId, packet.username, password);
        const will = packet.will ? { topic: packet.will.topic, payload: Buffer.from(packet.will.payload).toString(), qos: packet.will.qos } : undefined;
        fx.attempts.push({ clientId: packet.clientId, username: packet.username, code, at: Date.now(), clean: !!packet.clean, keepalive: packet.keepalive, ...(will ? { will } : {}) });
        if (code !== 0) {
          socket.end(mqttPacket.generate({ cmd: 'connack', returnCode: code, sessionPresent: false }));
          return;
        }
        socket.unshift(Buffer.concat(chunks));
        broker.handle(socket);
        socket.resume();
      });
      parser.on('error', () => socket.destroy());
      socket.on('data', onData);
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
  return fx;
}
