/**
 * Device-side helpers for the endpoint tests: MQTT.js clients (optionally from another loopback address), an
 * inbox that waits for a line, the CONNACK code of a refused login, and raw MQTT sockets for what MQTT.js
 * would never send.
 */
import * as net from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { until } from './broker';

export interface DeviceClients {
  /** Connect (CONNACK 0 expected); `from` is the local address (any 127.x.y.z works on Linux). */
  connect(opts: IClientOptions, from?: string): Promise<MqttClient>;
  /** CONNACK return code of a login (0 when accepted; the connection is then closed). */
  refusedWith(opts: IClientOptions, from?: string): Promise<number>;
  /** End every client opened so far. */
  endAll(): void;
}

export function deviceClients(port: () => number): DeviceClients {
  const open: MqttClient[] = [];
  const connect = (opts: IClientOptions, from?: string): Promise<MqttClient> => {
    const options: IClientOptions = { reconnectPeriod: 0, connectTimeout: 10_000, ...opts };
    if (!from) {
      return mqtt.connectAsync(`mqtt://127.0.0.1:${port()}`, options).then((c) => (open.push(c), c));
    }
    // MQTT.js has no option for the local address: its stream builder is public API.
    const c = new MqttClient(() => net.connect({ host: '127.0.0.1', port: port(), localAddress: from }), options);
    open.push(c);
    return new Promise((resolve, reject) => {
      c.once('connect', () => resolve(c));
      c.once('error', reject);
      c.once('close', () => reject(Object.assign(new Error('closed before CONNACK'), { code: -1 })));
    });
  };
  return {
    connect,
    async refusedWith(opts, from) {
      try {
        const c = await connect(opts, from);
        await c.endAsync();
      } catch (err) {
        return (err as { code: number }).code;
      }
      return 0;
    },
    endAll() {
      for (const c of open.splice(0)) c.end(true);
    },
  };
}

export interface Inbox {
  got: { topic: string; payload: string }[];
  next(topic: string, match?: (p: string) => boolean, timeoutMs?: number): Promise<string>;
}

export function inbox(c: MqttClient): Inbox {
  const got: Inbox['got'] = [];
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return {
    got,
    async next(topic, match = () => true, timeoutMs = 5000) {
      let found: string | undefined;
      await until(() => (found = got.find((m) => m.topic === topic && match(m.payload))?.payload) !== undefined, timeoutMs, `a message on ${topic}`);
      return found!;
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { generate } = require('mqtt-packet') as { generate(p: object): Buffer };

/** A raw MQTT 3.1.1 connection: packets are written as given, nothing is read unless asked. */
export async function rawConnection(port: number): Promise<{ socket: net.Socket; send(packet: object): void; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, send: (packet) => socket.write(generate(packet)), closed };
}

export function connectPacket(clientId: string, username: string, password: string): object {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, username, password: Buffer.from(password) };
}
