/**
 * `c8y-device-registration`: the device side of Cumulocity's bootstrap (reference §11.1). Connects with the
 * bootstrap user (ClientId = plain device id), subscribes `s/dcr`, publishes EMPTY messages on `s/ucr` every
 * N seconds (growing after a long wait, optional limit), and stops on `70`. The credentials are emitted and,
 * with a `c8y-device` selected, stored into it (encrypted, survives a restart) so it reconnects with them.
 * The transport is the shared MqttConnection; the bootstrap password is never logged.
 */
import type { EventEmitter } from 'node:events';
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { parseCredentials, pollDelay, type PollSchedule } from '../../c8y/bootstrap';
import { brokerUrl, checkDeviceId } from '../../c8y/clientid';
import { describeRefusal, refusalLogLine, retryRefused } from '../../c8y/connack';
import { MqttConnection, type StatusLike } from '../../mqtt/connection';
import { errorText, shortText } from '../shared/errors';
import type { C8yDeviceNode } from '../c8y-device/types';
import type { C8yRegistrationConfig, C8yRegistrationCredentials, C8yRegistrationInput, C8yRegistrationOutput } from './types';

interface TlsConfigNode {
  addTLSOptions(options: Record<string, unknown>): void;
}

/** MQTT.js's own error for a refused CONNACK: the 'refused' event logs it better (meaning and what to do). */
function isRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'number' && typeof e.message === 'string' && /connection refused/i.test(e.message);
}

export = function register(RED: NodeAPI): void {
  function C8yRegistrationNode(this: Node<C8yRegistrationCredentials>, config: C8yRegistrationConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const device = config.device ? (RED.nodes.getNode(config.device) as C8yDeviceNode | null) : null;
    const deviceId = (device?.deviceId ?? config.deviceId ?? '').trim();
    const schedule: Partial<PollSchedule> = {
      intervalS: Number(config.interval) > 0 ? Number(config.interval) : 5,
      slowAfter: Number(config.slowAfter) > 0 ? Number(config.slowAfter) : 60,
      limit: Number(config.limit) > 0 ? Math.floor(Number(config.limit)) : 0,
    };
    const tlsNode = config.tls ? (RED.nodes.getNode(config.tls) as unknown as TlsConfigNode | null) : null;
    let connection: MqttConnection | undefined;
    let timer: NodeJS.Timeout | undefined;
    let polls = 0;
    let lastWarning = '';
    let state: 'idle' | 'running' | 'done' = 'idle';

    const setStatus = (s: StatusLike) => node.status(s);
    const problem = checkDeviceId(deviceId) ?? (node.credentials?.password ? undefined : 'no bootstrap password');
    if (problem) setStatus({ fill: 'red', shape: 'ring', text: shortText(problem) });
    else setStatus({ fill: 'grey', shape: 'ring', text: 'idle' });

    function warnOnce(text: string): void {
      if (text === lastWarning) return;
      lastWarning = text;
      node.warn(text);
    }

    function schedulePoll(): void {
      clearTimeout(timer);
      const delay = pollDelay(polls, schedule);
      if (delay === undefined) {
        // The last poll gets one more interval for its answer before giving up.
        timer = setTimeout(() => {
          timer = undefined;
          if (state !== 'running') return;
          setStatus({ fill: 'red', shape: 'ring', text: `gave up after ${polls} polls` });
          warnOnce(`registration of ${deviceId}: no credentials after ${polls} polls; start it again by message`);
          void stop();
        }, (schedule.intervalS ?? 5) * 1000);
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        if (!connection || connection.state !== 'connected') return; // resumed by the next 'connected'
        polls++;
        setStatus({ fill: 'yellow', shape: 'dot', text: polls === 1 ? 'polling s/ucr' : `waiting for acceptance (poll ${polls})` });
        connection.publish('s/ucr', '', { qos: 1 }).catch((err) => warnOnce(`registration poll: ${errorText(err)}`));
        schedulePoll();
      }, delay);
    }

    function start(): void {
      if (problem) {
        node.warn(`registration not started: ${problem}`);
        return;
      }
      if (state === 'running') return;
      state = 'running';
      polls = 0;
      // The device connection is the same identity on the platform (ClientId `<id>` vs `d:<id>`): it waits.
      device?.suspendForRegistration();
      let url: string;
      try {
        url = brokerUrl(config.host, config.transport, config.port, config.wsPath);
      } catch (err) {
        setStatus({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        state = 'idle';
        return;
      }
      const tls: Record<string, unknown> = {};
      if (config.transport === 'mqtts' || config.transport === 'wss' || !config.transport) {
        tls.rejectUnauthorized = config.verifyCert !== false;
        tlsNode?.addTLSOptions(tls);
      }
      connection = new MqttConnection({
        url,
        clientId: deviceId, // the bootstrap ClientId is the plain device id
        username: (config.user || 'management/devicebootstrap').trim(),
        password: node.credentials?.password,
        clean: true,
        keepalive: 60,
        protocolVersion: 4,
        tls: Object.keys(tls).length ? (tls as never) : undefined,
        retryRefused,
        describeRefusal,
        queueLimit: { messages: 2, bytes: 1024 },
        backoff: { initialMs: 1000, maxMs: 60000, factor: 2, jitter: 0.5 },
      });
      connection.register({ id: node.id, status: (s) => state === 'running' && (connection?.state !== 'connected' || polls === 0) && setStatus(s) });
      connection.on('refused', (code: number) => warnOnce(refusalLogLine(code)));
      connection.on('client-error', (err: unknown) => isRefusal(err) || warnOnce(`registration connection: ${errorText(err)}`));
      connection.on('connected', () => schedulePoll());
      connection.subscribe('s/dcr', 1, (_topic, payload) => void received(payload)).catch(() => undefined);
    }

    async function received(payload: Buffer): Promise<void> {
      const creds = parseCredentials(payload);
      if (!creds || state !== 'running') return;
      state = 'done';
      await stop();
      state = 'done';
      setStatus({ fill: 'green', shape: 'dot', text: `done: ${creds.tenant}/${creds.username}` });
      const msg: C8yRegistrationOutput = { topic: 's/dcr', payload: creds, deviceId };
      if (device) {
        try {
          await device.setCredentials(creds);
        } catch (err) {
          // The message for Catch nodes leaves the password out.
          node.error(`could not store the credentials in the c8y-device node: ${errorText(err)}`, { topic: msg.topic, deviceId, payload: { tenant: creds.tenant, username: creds.username } } as unknown as NodeMessageInFlow);
        }
      }
      node.send(msg as unknown as NodeMessageInFlow);
    }

    async function stop(): Promise<void> {
      clearTimeout(timer);
      timer = undefined;
      const c = connection;
      connection = undefined;
      if (state === 'running') state = 'idle';
      if (c) await c.close().catch(() => undefined);
      // Stopped without new credentials: the device connects again as before (after success setCredentials did).
      if (state !== 'done') device?.resumeAfterRegistration();
    }

    node.on('input', (inMsg: NodeMessageInFlow, _send, done) => {
      const msg = inMsg as NodeMessageInFlow & C8yRegistrationInput;
      const action = msg.action ?? (typeof msg.payload === 'string' ? msg.payload : 'start');
      if (action === 'stop') {
        void stop().then(() => {
          setStatus({ fill: 'grey', shape: 'ring', text: 'stopped' });
          done();
        });
        return;
      }
      if (problem) return done(new Error(`registration not started: ${problem}`));
      if (state === 'running' && connection?.state === 'refused') {
        // refused (e.g. a wrong bootstrap password, CONNACK 4): a start message tries again
        void stop().then(() => {
          start();
          done();
        });
        return;
      }
      state = state === 'done' ? 'idle' : state;
      start();
      done();
    });

    const auto = config.start ?? 'auto';
    // The flow may start before the device node: decide on the next tick.
    const startTimer = setTimeout(() => {
      if (auto === 'always' || (auto === 'auto' && !(device?.hasCredentials() ?? false))) start();
      // Say why nothing happens: the device is already registered (a start message registers it again).
      else if (auto === 'auto' && !problem) setStatus({ fill: 'green', shape: 'ring', text: 'not needed: the device has credentials' });
    }, 1);
    // Stored or configured credentials refused (CONNACK 4: the device was deleted on the platform, say): an `auto`
    // registration runs again instead of leaving the device without a way back.
    const onRefused = () => {
      if (auto !== 'auto' || state === 'running') return;
      node.warn(`the credentials of ${deviceId} were refused: registering the device again`);
      state = 'idle';
      start();
    };
    (device as unknown as EventEmitter | null)?.on('credentials-refused', onRefused);

    node.on('close', (_removed: boolean, done: () => void) => {
      clearTimeout(startTimer);
      (device as unknown as EventEmitter | null)?.off('credentials-refused', onRefused);
      state = 'idle';
      stop().finally(() => {
        node.status({});
        done();
      });
    });
  }

  RED.nodes.registerType<Node<C8yRegistrationCredentials>, C8yRegistrationConfig, {}, C8yRegistrationCredentials>('c8y-device-registration', C8yRegistrationNode, {
    credentials: { password: { type: 'password' } },
  });
};
