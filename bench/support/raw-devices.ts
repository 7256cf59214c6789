/**
 * A lean MQTT 3.1.1 device for the endpoint benchmark: the few calls of the MQTT.js client the simulator uses
 * (connect with credentials, QoS 0/1 publish with a completion callback, end), on a plain socket with packets built
 * by hand. With one message in flight per device MQTT.js costs about as much per message as the servers, so its core
 * fills up first; this one costs about half, so the servers' core is what fills up. Bench only: no keepalive pings,
 * no reconnect, no downstream messages, short topics and payloads.
 */
import * as net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { eachPacket } from './frames';

export interface RawConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
}

export class RawDevice {
  private readonly socket: net.Socket;
  private pending: Buffer | undefined;
  private nextId = 1;
  /** Completion callbacks of QoS 1 publishes, in order: a broker acknowledges QoS 1 in the order it received. */
  private readonly acks: ((() => void) | undefined)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  static connect(url: string, options: RawConnectOptions): Promise<RawDevice> {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    const device = new RawDevice(socket);
    return new Promise((resolve, reject) => {
      let connacked = false;
      socket.on('error', (err) => (connacked ? undefined : reject(err)));
      socket.once('connect', () =>
        socket.write(
          mqttPacket.generate({
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 4,
            clean: true,
            keepalive: 600,
            clientId: options.clientId,
            ...(options.username !== undefined ? { username: options.username, password: Buffer.from(options.password ?? '') } : {}),
          }),
        ),
      );
      socket.on('data', (chunk: Buffer) => {
        const buf = device.pending ? Buffer.concat([device.pending, chunk]) : chunk;
        device.pending = eachPacket(buf, (header, body) => {
          const type = header >> 4;
          if (type === 2 && !connacked) {
            connacked = true;
            if (buf[body + 1] === 0) resolve(device);
            else reject(new Error(`CONNACK ${buf[body + 1]}`));
          } else if (type === 4) device.acks.shift()?.();
        });
      });
    });
  }

  publish(topic: string, message: string, options: { qos: 0 | 1 }, done?: () => void): void {
    const t = Buffer.from(topic);
    const payload = Buffer.from(message);
    const qos = options.qos;
    const len = 2 + t.length + (qos ? 2 : 0) + payload.length;
    if (len > 127) throw new Error('raw device: packets over 127 bytes are not supported');
    const b = Buffer.allocUnsafe(2 + len);
    b[0] = 0x30 | (qos << 1);
    b[1] = len;
    b.writeUInt16BE(t.length, 2);
    t.copy(b, 4);
    let at = 4 + t.length;
    if (qos) {
      b.writeUInt16BE(this.nextId, at);
      this.nextId = (this.nextId % 65535) + 1;
      at += 2;
      this.acks.push(done);
    }
    payload.copy(b, at);
    this.socket.write(b);
    if (!qos) done?.();
  }

  async endAsync(): Promise<void> {
    this.socket.destroy();
  }
}
