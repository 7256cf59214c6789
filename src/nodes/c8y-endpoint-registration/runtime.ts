/**
 * `c8y-endpoint-registration`: the credential-issuing side of device registration. Devices that connect with the
 * bootstrap user and poll `s/ucr` appear as requests (one message per new request). A request is accepted by a
 * message `{accept: "<deviceId>"}`, by the node's allow-list/pattern, or rejected by `{reject: "<deviceId>"}`;
 * on the device's next poll the endpoint answers `70,<tenant>,<username>,<password>` on `s/dcr`.
 * A registered device gets no new credentials until the flow resets it with `{reset: "<deviceId>"}` (logged).
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { EndpointServer, RegistrationRefusal, RegistrationRequest } from '../../endpoint/server';
import { errorText, shortText } from '../shared/errors';
import type { C8yEndpointNode, EndpointUser } from '../c8y-endpoint/types';
import type { C8yEndpointRegistrationConfig, C8yEndpointRegistrationInput, C8yEndpointRegistrationOutput, C8yEndpointTokenOutput } from './types';

/** The allow-list as a predicate; throws on a bad regular expression. */
function allowList(text: string): ((id: string) => boolean) | undefined {
  const t = (text || '').trim();
  if (!t) return undefined;
  if (t.length > 2 && t.startsWith('/') && t.endsWith('/')) {
    const re = new RegExp(t.slice(1, -1));
    return (id) => re.test(id);
  }
  const res = t.split(/[\s,]+/).filter(Boolean).map((p) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'));
  return (id) => res.some((re) => re.test(id));
}

export = function register(RED: NodeAPI): void {
  function C8yEndpointRegistrationNode(this: Node, config: C8yEndpointRegistrationConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpoint = RED.nodes.getNode(config.endpoint) as C8yEndpointNode | null;
    let base: NodeStatus = {};
    let pending = 0;
    let registered = 0;

    if (!endpoint) {
      node.status({ fill: 'red', shape: 'ring', text: 'no endpoint configured' });
      node.error('c8y-endpoint-registration: no c8y-endpoint configuration selected');
      return;
    }
    let allowed: ((id: string) => boolean) | undefined;
    try {
      allowed = allowList(config.allow);
    } catch (err) {
      node.error(`allow-list: ${errorText(err)}`);
    }

    function show() {
      node.status(base.fill === 'green' ? { ...base, text: `${pending} pending · ${registered} registered` } : base);
    }
    function out(topic: C8yEndpointRegistrationOutput['topic'], payload: C8yEndpointRegistrationOutput['payload'], from?: NodeMessage) {
      const msg = (from ? RED.util.cloneMessage(from) : {}) as unknown as C8yEndpointRegistrationOutput & Record<string, unknown>;
      delete msg.accept;
      delete msg.reject;
      msg.topic = topic;
      msg.payload = payload;
      msg.device = payload.deviceId;
      node.send(msg as unknown as NodeMessage);
    }
    function countPending(server: EndpointServer) {
      pending = server.registrationRequests().filter((r) => r.state === 'pending').length;
    }

    const user: EndpointUser = {
      node,
      attach(server: EndpointServer) {
        const onRequest = (req: RegistrationRequest) => {
          countPending(server);
          out('registration/request', req);
          show();
        };
        const onRegistered = (r: { deviceId: string; tenant: string; username: string }) => {
          registered++;
          countPending(server);
          out('registration/registered', { deviceId: r.deviceId, tenant: r.tenant, username: r.username });
          show();
        };
        const onRefused = (r: RegistrationRefusal) => out('registration/refused', r);
        const remove = allowed ? server.addAcceptor((req) => allowed!(req.deviceId)) : undefined;
        server.on('registration', onRequest);
        server.on('registered', onRegistered);
        server.on('registration-refused', onRefused);
        return () => {
          remove?.();
          server.off('registration', onRequest);
          server.off('registered', onRegistered);
          server.off('registration-refused', onRefused);
        };
      },
      endpointStatus(s) {
        base = s;
        show();
      },
    };
    endpoint.register(user);

    node.on('input', (inMsg: NodeMessageInFlow, _send, done) => {
      const msg = inMsg as NodeMessageInFlow & C8yEndpointRegistrationInput;
      try {
        const server = endpoint.server();
        if (!server) throw new Error('the endpoint is not listening (see the status of its nodes)');
        if (msg.verifyToken !== undefined) {
          const req = (msg as { req?: { headers?: Record<string, unknown> } }).req;
          const token = msg.verifyToken === true ? req?.headers?.authorization : msg.verifyToken;
          let t;
          try {
            t = server.verifyToken(token);
          } catch (err) {
            throw new Error(`device token refused: ${errorText(err)}`);
          }
          const m = RED.util.cloneMessage(msg) as unknown as Record<string, unknown> & C8yEndpointTokenOutput;
          delete m.verifyToken;
          Object.assign(m, { topic: 'token/valid', device: t.device, token: t });
          node.send(m as unknown as NodeMessage);
          done();
          return;
        }
        const p = (msg.payload && typeof msg.payload === 'object' ? msg.payload : {}) as C8yEndpointRegistrationInput;
        const accept = msg.accept ?? p.accept;
        const reject = msg.reject ?? p.reject;
        const reset = msg.reset ?? p.reset;
        if (accept === undefined && reject === undefined && reset === undefined) {
          throw new Error('expected msg.accept, msg.reject or msg.reset (or payload.accept / .reject / .reset) with a device id, or msg.verifyToken');
        }
        // Reset first, so that {reset, accept} re-registers a device in one message.
        if (reset !== undefined) {
          if (typeof reset !== 'string') throw new Error('msg.reset must be a device id (string)');
          const r = server.reset(reset);
          node.warn(
            r.registered
              ? `device ${r.deviceId} reset: its next accepted registration replaces its credentials`
              : `device ${r.deviceId} reset: it is not registered, it registers as usual`,
          );
          out('registration/reset', r, msg);
        }
        if (accept !== undefined) {
          if (typeof accept !== 'string') throw new Error('msg.accept must be a device id (string)');
          out('registration/accepted', server.accept(accept), msg);
        }
        if (reject !== undefined) {
          if (typeof reject !== 'string') throw new Error('msg.reject must be a device id (string)');
          out('registration/rejected', server.reject(reject), msg);
        }
        countPending(server);
        show();
        done();
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: shortText(errorText(err)) });
        done(err as Error);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      endpoint.deregister(user);
      node.status({});
      done();
    });
  }
  RED.nodes.registerType('c8y-endpoint-registration', C8yEndpointRegistrationNode);
};
