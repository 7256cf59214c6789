/**
 * A local broker that behaves like Datacake's MQTT broker, for offline development, the `npm start` demo and the
 * tests (aedes on loopback). It encodes what Datacake documents, nothing more:
 * - token auth: username === password === the token; a wrong one gets CONNACK 4, none CONNACK 5;
 * - clients may subscribe only under `dtck/` and publish only to `dtck-pub/<product>/<device>/<FIELD>` (any other
 *   publish is refused: aedes closes the client, counted in `refusedWrites`);
 * - every accepted write is recorded and echoed on `dtck/<product>/<device>/<FIELD>`, as Datacake republishes
 *   every field change (booleans as Datacake's Python demo sees them, `True`/`False`, with `pythonBooleans`);
 * - `datacakeWrites(topic, payload)` publishes on `dtck/` as Datacake does when a field is set elsewhere;
 * - restartable on the same port (broker outages in tests); counts connection attempts.
 * It keeps no history beyond `writes` (bounded by `maxWrites`, oldest first out) and no retained values.
 */
import { serveBroker, type ServedBroker } from './serve';

export interface DatacakeStandinOptions {
  /** Port on 127.0.0.1 (or `host`); 0 or absent: a free port. */
  port?: number;
  host?: string;
  /** The one token accepted. */
  token: string;
  pythonBooleans?: boolean;
  /** How many accepted writes `writes` keeps (default 100,000). */
  maxWrites?: number;
  /** Answer every CONNECT only after this long (a slow or far broker: writes made meanwhile wait in the queue). */
  connackDelayMs?: number;
}

export interface DatacakeStandin {
  port: number;
  url: string;
  token: string;
  /** CONNECT packets seen (accepted or refused), since start. */
  connectAttempts: number;
  refusedConnects: number;
  refusedWrites: number;
  /** Accepted writes on dtck-pub/, in order (the latest `maxWrites`). */
  writes: { topic: string; payload: string; qos: number; retain: boolean }[];
  clients(): string[];
  /** Publish on dtck/ as Datacake (a field set from the dashboard, a device, …). */
  datacakeWrites(topic: string, payload: string): Promise<void>;
  stop(): Promise<void>;
  restart(downMs?: number): Promise<void>;
}

const WRITE_TOPIC = /^dtck-pub\/[^/#+]+\/[^/#+]+\/[^/#+]+$/;

export async function startDatacakeStandin(options: DatacakeStandinOptions): Promise<DatacakeStandin> {
  const host = options.host ?? '127.0.0.1';
  const maxWrites = options.maxWrites ?? 100_000;
  const token = options.token;
  let port = options.port ?? 0;
  let current: ServedBroker | undefined;

  const standin: DatacakeStandin = {
    port,
    url: '',
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
    broker.authenticate = (client: any, username: string | undefined, password: Buffer | undefined, cb: any) => {
      if (options.connackDelayMs) return void setTimeout(() => authenticate(client, username, password, cb), options.connackDelayMs);
      authenticate(client, username, password, cb);
    };
    const authenticate = (_client: any, username: string | undefined, password: Buffer | undefined, cb: any) => {
      standin.connectAttempts++;
      if (username === token && password?.toString() === token) return cb(null, true);
      standin.refusedConnects++;
      const err: any = new Error('refused');
      err.returnCode = username ? 4 : 5;
      cb(err, false);
    };
    broker.authorizePublish = (client: any, packet: any, cb: any) => {
      if (!client) return cb(null); // the broker's own publishes (echoes, datacakeWrites)
      if (typeof packet.topic === 'string' && WRITE_TOPIC.test(packet.topic)) return cb(null);
      standin.refusedWrites++;
      cb(new Error(`publish to ${packet.topic} not allowed`));
    };
    broker.authorizeSubscribe = (_client: any, sub: any, cb: any) => cb(null, /^dtck\//.test(sub.topic) ? sub : null);
    broker.on('publish', (packet: any, client: any) => {
      if (!client || !packet.topic.startsWith('dtck-pub/')) return;
      const payload = Buffer.from(packet.payload).toString();
      standin.writes.push({ topic: packet.topic, payload, qos: packet.qos, retain: !!packet.retain });
      if (standin.writes.length > maxWrites) standin.writes.splice(0, standin.writes.length - maxWrites);
      const echo = 'dtck/' + packet.topic.slice('dtck-pub/'.length);
      setImmediate(() => broker.publish({ cmd: 'publish', topic: echo, payload: Buffer.from(echoText(payload)), qos: 1, retain: false, dup: false }, () => undefined));
    });
    current = await serveBroker(broker, port, host);
    port = current.port;
    standin.port = port;
    standin.url = `mqtt://${host}:${port}`;
  }

  async function down(): Promise<void> {
    const c = current;
    current = undefined;
    await c?.close();
  }

  await up();
  return standin;
}
