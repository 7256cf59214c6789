/**
 * The GraphQL client behind the editor pickers (workspaces, devices, fields). Runs in the runtime only, so the
 * token never reaches the browser. Uses Node's global fetch with a timeout; pages through
 * `workspace.devicesFiltered`, de-duplicating by device id and stopping on an empty page, when all `total`
 * devices are in, or after `maxPages`.
 */

export const DEFAULT_API_URL = 'https://api.datacake.co/graphql/';

export interface Workspace {
  id: string;
  name: string;
  slug?: string;
}

export interface DeviceField {
  name: string;
  label?: string;
  type?: string;
  unit?: string;
}

export interface Device {
  id: string;
  name: string;
  serial?: string;
  productSlug: string;
  fields: DeviceField[];
}

export interface GraphqlOptions {
  url?: string;
  token: string;
  timeoutMs?: number;
  pageSize?: number;
  maxPages?: number;
}

export class GraphqlError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GraphqlError';
  }
}

/** One GraphQL request; errors carry no token (only status and the server's error texts). */
export async function graphql<T>(options: GraphqlOptions, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  if (!options.token) throw new GraphqlError('no token configured', 400);
  const url = options.url || DEFAULT_API_URL;
  if (!/^https?:\/\//i.test(url)) throw new GraphqlError(`API URL must be http(s), got ${JSON.stringify(url)}`, 400);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Token ${options.token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 20000),
    });
  } catch (err) {
    throw new GraphqlError(`Datacake API not reachable: ${(err as Error).message}`, 502);
  }
  if (res.status === 401 || res.status === 403) throw new GraphqlError('the Datacake API refused the token', 401);
  if (!res.ok) throw new GraphqlError(`the Datacake API answered HTTP ${res.status}`, 502);
  let body: { data?: T; errors?: { message?: string }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new GraphqlError('the Datacake API sent no JSON', 502);
  }
  if (body.errors?.length) throw new GraphqlError(`Datacake API: ${body.errors.map((e) => e.message ?? 'error').join('; ')}`, 502);
  if (!body.data) throw new GraphqlError('the Datacake API sent no data', 502);
  return body.data;
}

export const WORKSPACES_QUERY = 'query { allWorkspaces { id name slug } }';

export const DEVICES_QUERY = `query devices($workspace: String!, $page: Int!, $pageSize: Int!) {
  workspace(id: $workspace) {
    devicesFiltered(page: $page, pageSize: $pageSize, all: true) {
      total
      devices { id verboseName serialNumber product { slug measurementFields(active: true) { fieldName verboseFieldName fieldType unit } } }
    }
  }
}`;

export async function listWorkspaces(options: GraphqlOptions): Promise<Workspace[]> {
  const data = await graphql<{ allWorkspaces?: Workspace[] | null }>(options, WORKSPACES_QUERY);
  return (data.allWorkspaces ?? []).map((w) => ({ id: String(w.id), name: String(w.name ?? w.id), ...(w.slug ? { slug: String(w.slug) } : {}) }));
}

interface RawDevice {
  id: string;
  verboseName?: string;
  serialNumber?: string;
  product?: { slug?: string; measurementFields?: { fieldName: string; verboseFieldName?: string; fieldType?: string; unit?: string }[] };
}

export async function listDevices(options: GraphqlOptions, workspaceId: string): Promise<{ devices: Device[]; total: number; pages: number; complete: boolean }> {
  const pageSize = options.pageSize ?? 50;
  const maxPages = options.maxPages ?? 200;
  const byId = new Map<string, Device>();
  let total = 0;
  let pages = 0;
  for (let page = 0; page < maxPages; page++) {
    const data = await graphql<{ workspace?: { devicesFiltered?: { total?: number; devices?: RawDevice[] } } | null }>(options, DEVICES_QUERY, {
      workspace: workspaceId,
      page,
      pageSize,
    });
    pages++;
    const result = data.workspace?.devicesFiltered;
    if (!data.workspace) throw new GraphqlError(`workspace ${workspaceId} not found or not visible with this token`, 404);
    total = Number(result?.total ?? 0);
    const devices = result?.devices ?? [];
    for (const d of devices) {
      if (!d?.id || byId.has(d.id)) continue;
      byId.set(d.id, {
        id: String(d.id),
        name: String(d.verboseName ?? d.id),
        ...(d.serialNumber ? { serial: String(d.serialNumber) } : {}),
        productSlug: String(d.product?.slug ?? ''),
        fields: (d.product?.measurementFields ?? []).map((f) => ({
          name: f.fieldName,
          ...(f.verboseFieldName ? { label: f.verboseFieldName } : {}),
          ...(f.fieldType ? { type: f.fieldType } : {}),
          ...(f.unit ? { unit: f.unit } : {}),
        })),
      });
    }
    if (!devices.length || byId.size >= total) break;
  }
  return { devices: [...byId.values()], total, pages, complete: byId.size >= total };
}
