/** The picker GraphQL client against a local stand-in server (paging, dedupe, auth errors). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GraphqlError, listDevices, listWorkspaces } from '../../src/datacake/graphql';
import { makeDevices, startGraphqlStandIn, type GraphqlStandIn } from '../support/datacake-graphql';

const TOKEN = 't'.repeat(40);

describe('datacake GraphQL client', () => {
  let api: GraphqlStandIn;
  before(async () => (api = await startGraphqlStandIn(TOKEN, { ws1: { name: 'Big', devices: makeDevices(237) }, ws2: { name: 'Empty', devices: [] } })));
  after(() => api.close());

  it('lists workspaces with "Authorization: Token …"', async () => {
    const ws = await listWorkspaces({ url: api.url, token: TOKEN });
    assert.deepEqual(ws.map((w) => w.id), ['ws1', 'ws2']);
    assert.equal(api.requests.at(-1)?.authorization, `Token ${TOKEN}`);
  });
  it('pages through a large workspace', async () => {
    const before = api.requests.length;
    const r = await listDevices({ url: api.url, token: TOKEN, pageSize: 50 }, 'ws1');
    assert.equal(r.devices.length, 237);
    assert.equal(r.total, 237);
    assert.equal(r.complete, true);
    assert.equal(api.requests.length - before, 5);
    assert.equal(new Set(r.devices.map((d) => d.id)).size, 237);
    assert.deepEqual(r.devices[0].fields.map((f) => f.name), ['TEMPERATURE', 'RELAY']);
    assert.equal(r.devices[0].productSlug, 'env-sensor');
    const empty = await listDevices({ url: api.url, token: TOKEN }, 'ws2');
    assert.deepEqual([empty.devices.length, empty.total], [0, 0]);
  });
  it('reports a refused token and an unknown workspace without the token in the message', async () => {
    const bad = 'x'.repeat(40);
    await assert.rejects(listWorkspaces({ url: api.url, token: bad }), (err: GraphqlError) => err.status === 401 && !err.message.includes(bad));
    await assert.rejects(listDevices({ url: api.url, token: TOKEN }, 'nope'), (err: GraphqlError) => err.status === 404);
    await assert.rejects(listWorkspaces({ url: 'ftp://x', token: TOKEN }), /http/);
  });
});
