/**
 * The endpoint's listeners: plain TCP, optional TLS and optional MQTT over WebSocket (`/mqtt`), with every socket
 * tracked so that `close` frees the ports whatever clients do.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

export interface ListenerOptions {
  host?: string;
  /** Plain MQTT port; 0 picks a free one; undefined/null/-1 = no plain listener. */
  port?: number | null;
  /** MQTT over TLS. `requestCert` lets devices authenticate with a client certificate whose CN is the device id. */
  tls?: { port: number; options: tls.TlsOptions } | null;
  /** MQTT over WebSocket on path `/mqtt`. */
  ws?: { port: number } | null;
}

export interface EndpointAddresses {
  mqtt?: number;
  tls?: number;
  ws?: number;
}

/** Hands one new connection (socket or WebSocket stream) to the broker. */
export type ConnectionHandler = (stream: Duplex, req?: http.IncomingMessage) => void;

function noop(): void {}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export class Listeners {
  readonly addresses: EndpointAddresses = {};
  private readonly servers: (net.Server | http.Server)[] = [];
  private readonly sockets = new Set<Duplex>();
  private wss: WebSocketServer | undefined;

  /** Start every configured listener; rejects when one cannot bind (call `close` then). */
  async start(options: ListenerOptions, handle: ConnectionHandler): Promise<void> {
    const host = options.host || '127.0.0.1';
    const track = (socket: Duplex) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    };
    if (options.port !== undefined && options.port !== null && options.port >= 0) {
      const srv = net.createServer((socket) => {
        track(socket);
        handle(socket);
      });
      this.addresses.mqtt = await this.listen(srv, host, options.port);
    }
    if (options.tls) {
      const srv = tls.createServer({ ...options.tls.options, rejectUnauthorized: false }, (socket) => {
        track(socket);
        handle(socket);
      });
      srv.on('tlsClientError', noop);
      this.addresses.tls = await this.listen(srv, host, options.tls.port);
    }
    if (options.ws) {
      const srv = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
      });
      srv.on('connection', track);
      const wss = new WebSocketServer({
        server: srv,
        path: '/mqtt',
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', noop);
        handle(stream, req);
      });
      wss.on('error', noop);
      this.wss = wss;
      this.addresses.ws = await this.listen(srv, host, options.ws.port);
    }
  }

  private listen(srv: net.Server, host: string, port: number): Promise<number> {
    this.servers.push(srv);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? // the usual case: a broker (often mosquitto on 1883) already has the port; say what to change
                `cannot listen on ${host}:${port}: port ${port} is in use (another broker, e.g. mosquitto?): give this c8y-endpoint and its devices another port, or stop what holds it`
              : `cannot listen on ${host}:${port}: ${err.message}`,
          ),
        );
      srv.once('error', onError);
      srv.listen(port, host, () => {
        srv.off('error', onError);
        srv.on('error', noop);
        resolve((srv.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Stop accepting; `closeBroker` runs between stopping the listeners and destroying the sockets left (so that
   * the broker can say goodbye first). Resolves within ~3 s whatever clients do.
   */
  async close(closeBroker: () => Promise<void>): Promise<void> {
    const closed = this.servers.map((srv) => new Promise<void>((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve())));
    this.wss?.clients.forEach((ws) => ws.terminate());
    this.wss?.close();
    await Promise.race([closeBroker(), delay(2000)]);
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.race([Promise.all(closed), delay(1000)]);
  }
}
