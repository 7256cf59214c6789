/**
 * A local stand-in for Datacake's GraphQL API (node:http), enough for the editor pickers: `Authorization: Token
 * <token>` (anything else: 401 with an empty body, as Datacake does), `allWorkspaces`, and
 * `workspace(id).devicesFiltered(page, pageSize)` with paging. Records every request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInDevice {
  id: string;
  verboseName: string;
  serialNumber: string;
  product: { slug: string; measurementFields: { fieldName: string; verboseFieldName: string; fieldType: string; unit: string }[] };
}

export interface GraphqlStandIn {
  url: string;
  requests: { authorization?: string; query: string; variables: Record<string, unknown> }[];
  close(): Promise<void>;
}

export function makeDevices(n: number, slug = 'env-sensor'): StandInDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    verboseName: `Sensor ${i}`,
    serialNumber: `SN${i}`,
    product: {
      slug,
      measurementFields: [
        { fieldName: 'TEMPERATURE', verboseFieldName: 'Temperature', fieldType: 'FLOAT', unit: '°C' },
        { fieldName: 'RELAY', verboseFieldName: 'Relay', fieldType: 'BOOL', unit: '' },
      ],
    },
  }));
}

/** `host`: the loopback address to listen on (127.0.0.2 stands for "another host" in the API URL rule). */
export async function startGraphqlStandIn(token: string, workspaces: Record<string, { name: string; devices: StandInDevice[] }>, host = '127.0.0.1'): Promise<GraphqlStandIn> {
  const requests: GraphqlStandIn['requests'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let parsed: { query?: string; variables?: Record<string, unknown> } = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        /* empty */
      }
      requests.push({ authorization: req.headers.authorization, query: parsed.query ?? '', variables: parsed.variables ?? {} });
      if (req.method !== 'POST') return void res.writeHead(405).end();
      if (req.headers.authorization !== `Token ${token}`) return void res.writeHead(401).end();
      const q = parsed.query ?? '';
      const v = parsed.variables ?? {};
      let data: unknown;
      if (/allWorkspaces/.test(q)) {
        data = { allWorkspaces: Object.entries(workspaces).map(([id, w]) => ({ id, name: w.name, slug: w.name.toLowerCase() })) };
      } else if (/devicesFiltered/.test(q)) {
        const ws = workspaces[String(v.workspace)];
        const page = Number(v.page);
        const size = Number(v.pageSize);
        data = { workspace: ws ? { devicesFiltered: { total: ws.devices.length, devices: ws.devices.slice(page * size, page * size + size) } } : null };
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ errors: [{ message: 'unknown query' }] }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data }));
    });
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/graphql/`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
