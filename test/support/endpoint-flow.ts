/** Loading a flow with a `c8y-endpoint` into node-red-node-test-helper and waiting until it listens. */
import { helper, collect } from './flow';
import { until } from './broker';
import type { C8yEndpointNode } from '../../src/nodes/c8y-endpoint/types';
import type { EndpointServer } from '../../src/endpoint/server';

/**
 * Load `flow` (its endpoint config node has id `ep` and listens on `port`) and collect what the helper nodes named
 * in `outputs` receive.
 */
export async function loadEndpointFlow<K extends string>(nodes: unknown[], flow: object[], creds: object, port: number, outputs: readonly K[]) {
  await helper.load(nodes as never, flow as never, creds as never);
  const ep = helper.getNode('ep') as unknown as C8yEndpointNode;
  await until(() => ep.server()?.addresses.mqtt === port, 5000, 'endpoint listening');
  const collected = Object.fromEntries(outputs.map((id) => [id, collect(helper.getNode(id))])) as Record<K, ReturnType<typeof collect>>;
  return { ep, server: ep.server() as EndpointServer, ...collected };
}
