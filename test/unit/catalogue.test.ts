import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STATIC_TEMPLATES, findTemplate, OPERATION_FRAGMENTS } from '../../src/smartrest/catalogue.js';
import type { TemplateCategory, TemplateDirection, TemplateSpec } from '../../src/smartrest/types.js';

function get(id: number): TemplateSpec {
  const t = findTemplate(id);
  assert.ok(t, `template ${id} missing`);
  return t;
}

function expectIds(ids: number[], direction: TemplateDirection, category: TemplateCategory): void {
  for (const id of ids) {
    const t = get(id);
    assert.equal(t.direction, direction, `${id} direction`);
    assert.equal(t.category, category, `${id} category`);
  }
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function kindOf(id: number, name: string): string | undefined {
  return get(id).fields.find((f) => f.name === name)?.kind;
}

describe('catalogue: coverage', () => {
  it('has every publish template with its category', () => {
    expectIds([100, 101, 102, 104, 105, 107, ...range(110, 123), 125, 140, 141, 142, 143, 150], 'up', 'inventory');
    expectIds([200, 201, 210, 211, 212], 'up', 'measurement');
    expectIds(range(301, 307), 'up', 'alarm');
    expectIds([400, 401, 402, 407, 408], 'up', 'event');
    expectIds(range(500, 507), 'up', 'operation-status');
    expectIds([600, 602], 'up', 'capability');
  });

  it('has every downstream message with its category', () => {
    expectIds([106, 124], 'down', 'response');
    expectIds([510, 511, 513, ...range(515, 531)], 'down', 'operation');
    expectIds([601, 603], 'down', 'capability');
    expectIds([20], 'down', 'template');
    expectIds([40, 41, 42, 43, 45, 50], 'down', 'error');
    expectIds([70, 71], 'down', 'credentials');
  });

  it('has no undocumented IDs and no duplicates', () => {
    for (const id of [103, 108, 109, 124.5, 126, 139, 144, 512, 514, 532, 604, 10, 11, 44]) {
      assert.equal(findTemplate(id), undefined, String(id));
    }
    const ids = STATIC_TEMPLATES.map((t) => t.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, 86);
  });

  it('uses documented names', () => {
    assert.equal(get(200).name, 'Create custom measurement');
    assert.equal(get(100).name, 'Device creation');
    assert.equal(get(301).name, 'Create CRITICAL alarm');
    assert.equal(get(530).name, 'Cloud Remote Access connect');
    for (const t of STATIC_TEMPLATES) assert.ok(t.name.length > 0, `${t.id} has a name`);
  });

  it('uses camelCase, unique field names', () => {
    const camel = /^[a-z][A-Za-z0-9]*$/;
    for (const t of STATIC_TEMPLATES) {
      const names = [...t.fields.map((f) => f.name)];
      if (t.repeat) names.push(t.repeat.name);
      for (const s of t.sections ?? []) names.push(s.name);
      assert.equal(new Set(names).size, names.length, `${t.id} duplicate names`);
      const all = [...t.fields, ...(t.repeat?.fields ?? []), ...(t.sections ?? []).flatMap((s) => [...(s.fields ?? []), ...(s.repeat?.fields ?? [])])];
      for (const f of all) assert.match(f.name, camel, `${t.id}.${f.name}`);
    }
  });
});

describe('catalogue: lookups', () => {
  it('finds by number and by digit string', () => {
    assert.equal(findTemplate(200), findTemplate('200'));
    assert.equal(findTemplate('0200'), findTemplate(200));
    assert.equal(findTemplate('200')?.id, 200);
    assert.equal(findTemplate('abc'), undefined);
    assert.equal(findTemplate(''), undefined);
    assert.equal(findTemplate('2 00'), undefined);
  });

  it('maps operation fragments to IDs', () => {
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_Restart, [510]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_Command, [511]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_Firmware, [515, 525]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_DownloadConfigFile, [521, 524]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_UploadConfigFile, [520, 526]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_DeviceProfile, [527, 531]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_SoftwareUpdate, [528, 529]);
    assert.deepEqual(OPERATION_FRAGMENTS.c8y_RemoteAccessConnect, [530]);
    assert.deepEqual(
      Object.keys(OPERATION_FRAGMENTS).sort(),
      [
        'c8y_Command',
        'c8y_CommunicationMode',
        'c8y_Configuration',
        'c8y_DeviceProfile',
        'c8y_DownloadConfigFile',
        'c8y_Firmware',
        'c8y_LogfileRequest',
        'c8y_MeasurementRequestOperation',
        'c8y_Relay',
        'c8y_RelayArray',
        'c8y_RemoteAccessConnect',
        'c8y_Restart',
        'c8y_SoftwareList',
        'c8y_SoftwareUpdate',
        'c8y_UploadConfigFile',
      ],
    );
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(STATIC_TEMPLATES));
    assert.ok(Object.isFrozen(get(201).repeat!.fields[0]));
    assert.ok(Object.isFrozen(OPERATION_FRAGMENTS.c8y_Firmware));
  });
});

describe('catalogue: operations', () => {
  it('marks 510–531 with target and fragment, answers without target', () => {
    for (const id of [510, 511, 513, ...range(515, 531)]) {
      const t = get(id);
      assert.equal(t.target, true, `${id} target`);
      assert.match(t.operation ?? '', /^c8y_/, `${id} operation`);
      assert.ok(!t.fields.some((f) => /serial|device/i.test(f.name)), `${id} lists no target field`);
    }
    for (const id of [106, 124, 601, 603, 20, 40, 70, 71]) {
      assert.equal(get(id).target, undefined, `${id}`);
      assert.equal(get(id).operation, undefined, `${id}`);
    }
    assert.deepEqual(
      get(530).fields.map((f) => [f.name, f.kind]),
      [
        ['hostname', 'string'],
        ['port', 'integer'],
        ['connectionKey', 'string'],
      ],
    );
    assert.deepEqual(
      get(522).fields.map((f) => f.name),
      ['logFile', 'dateFrom', 'dateTo', 'searchText', 'maximumLines'],
    );
  });

  it('describes 527 and 531 with $FW/$SW/$CONF sections', () => {
    for (const [id, sw] of [
      [527, ['name', 'version', 'url', 'action']],
      [531, ['name', 'version', 'softwareType', 'url', 'action']],
    ] as const) {
      const t = get(id);
      assert.deepEqual(t.fields, []);
      const [fw, swSec, conf] = t.sections!;
      assert.equal(fw!.marker, '$FW');
      assert.equal(fw!.name, 'firmware');
      assert.deepEqual(
        fw!.fields!.map((f) => f.name),
        ['name', 'version', 'url', 'isPatch', 'dependency'],
      );
      assert.equal(swSec!.marker, '$SW');
      assert.equal(swSec!.name, 'software');
      assert.deepEqual(
        swSec!.repeat!.fields.map((f) => f.name),
        [...sw],
      );
      assert.equal(conf!.marker, '$CONF');
      assert.equal(conf!.name, 'configurations');
      assert.deepEqual(
        conf!.repeat!.fields.map((f) => f.name),
        ['url', 'type'],
      );
    }
  });
});

describe('catalogue: fields and kinds', () => {
  it('types numeric, boolean and date fields', () => {
    assert.equal(kindOf(200, 'value'), 'number');
    assert.equal(kindOf(200, 'time'), 'date');
    assert.equal(kindOf(210, 'rssi'), 'number');
    assert.equal(kindOf(210, 'ber'), 'number');
    assert.equal(kindOf(211, 'value'), 'number');
    assert.equal(kindOf(212, 'value'), 'number');
    for (const id of [112, 401, 402]) {
      assert.equal(kindOf(id, 'latitude'), 'number');
      assert.equal(kindOf(id, 'longitude'), 'number');
      assert.equal(kindOf(id, 'altitude'), 'number');
      assert.equal(kindOf(id, 'accuracy'), 'integer');
    }
    assert.equal(kindOf(401, 'time'), 'date');
    assert.equal(kindOf(112, 'time'), undefined);
    assert.equal(kindOf(117, 'interval'), 'integer');
    assert.equal(kindOf(101, 'deviceMarker'), 'boolean');
    assert.equal(kindOf(121, 'profileExecuted'), 'boolean');
    assert.equal(kindOf(408, 'changeDetect'), 'boolean');
    for (const id of [120, 201, 210, 211, 212, 301, 302, 303, 304, 400, 408]) assert.equal(kindOf(id, 'time'), 'date', `${id}`);
  });

  it('marks mandatory fields as documented', () => {
    const mandatory = (id: number): string[] => get(id).fields.filter((f) => f.mandatory).map((f) => f.name);
    assert.deepEqual(mandatory(100), []);
    assert.deepEqual(mandatory(101), ['uniqueChildId']);
    assert.deepEqual(mandatory(102), ['serviceExternalId', 'serviceType', 'serviceName', 'status']);
    assert.deepEqual(mandatory(120), ['configType', 'url']);
    assert.deepEqual(mandatory(122), ['name', 'version', 'maintainer']);
    assert.deepEqual(mandatory(200), ['fragment', 'series', 'value']);
    assert.deepEqual(mandatory(301), ['type']);
    assert.deepEqual(mandatory(400), ['type', 'text']);
    assert.deepEqual(mandatory(502), ['fragment']);
    assert.deepEqual(mandatory(507), []);
    assert.deepEqual(mandatory(70), ['tenant', 'username', 'password']);
  });

  it('marks free text', () => {
    const text = (id: number): string[] => get(id).fields.filter((f) => f.text).map((f) => f.name);
    assert.deepEqual(text(301), ['text']);
    assert.deepEqual(text(400), ['text']);
    assert.deepEqual(text(502), ['failureReason']);
    assert.deepEqual(text(505), ['failureReason']);
    assert.deepEqual(text(113), ['configuration']);
    assert.deepEqual(text(511), ['command']);
    assert.deepEqual(text(513), ['configuration']);
    assert.deepEqual(text(200), []);
    assert.deepEqual(text(503), []);
  });

  it('describes repeat groups', () => {
    const rep = (id: number): [string, string[], number] => {
      const r = get(id).repeat!;
      assert.ok(r, `${id} repeat`);
      return [r.name, r.fields.map((f) => f.name), r.min ?? 0];
    };
    assert.deepEqual(rep(201), ['measurements', ['fragment', 'series', 'value', 'unit'], 1]);
    assert.deepEqual(
      get(201).fields.map((f) => f.name),
      ['type', 'time'],
    );
    assert.equal(get(201).repeat!.fields[2]!.kind, 'number');
    assert.deepEqual(rep(116), ['software', ['name', 'version', 'url'], 0]);
    assert.deepEqual(rep(140), ['software', ['name', 'version', 'softwareType', 'url'], 0]);
    assert.deepEqual(rep(141), ['software', ['name', 'version', 'softwareType', 'url'], 0]);
    assert.deepEqual(rep(142), ['software', ['name', 'version'], 0]);
    assert.deepEqual(rep(408), ['parameters', ['path', 'type', 'value'], 1]);
    assert.deepEqual(
      get(408).fields.map((f) => f.name),
      ['text', 'time', 'changeDetect'],
    );
    assert.deepEqual(rep(516), ['software', ['name', 'version', 'url'], 0]);
    assert.deepEqual(rep(528), ['software', ['name', 'version', 'url', 'action'], 0]);
    assert.deepEqual(rep(529), ['software', ['name', 'version', 'softwareType', 'url', 'action'], 0]);
    assert.equal(get(530).repeat, undefined);
  });

  it('describes variadic lists as single-field groups', () => {
    const cases: [number, string, string[]][] = [
      [107, 'fragments', []],
      [114, 'operations', []],
      [118, 'logTypes', []],
      [119, 'configTypes', []],
      [143, 'softwareTypes', []],
      [150, 'protocols', []],
      [307, 'fragments', ['type']],
      [407, 'fragments', ['eventType']],
      [503, 'parameters', ['fragment']],
      [506, 'parameters', ['operationId']],
      [106, 'children', []],
      [519, 'states', []],
      [603, 'ids', []],
    ];
    for (const [id, name, fixed] of cases) {
      const t = get(id);
      assert.equal(t.repeat?.name, name, `${id}`);
      assert.equal(t.repeat?.fields.length, 1, `${id}`);
      assert.deepEqual(
        t.fields.map((f) => f.name),
        fixed,
        `${id}`,
      );
    }
    assert.equal(get(107).repeat!.min, 1);
    assert.equal(get(307).repeat!.min, 1);
  });

  it('describes s/dt, s/e, s/dcr and s/dat lines', () => {
    for (const id of [40, 41, 42, 43, 45, 50]) {
      const t = get(id);
      assert.equal(t.restIsText, true, `${id}`);
      assert.deepEqual(
        t.fields.map((f) => f.name),
        ['relatedId', 'text'],
      );
    }
    assert.deepEqual(
      get(70).fields.map((f) => f.name),
      ['tenant', 'username', 'password'],
    );
    assert.deepEqual(
      get(71).fields.map((f) => f.name),
      ['token'],
    );
    assert.equal(get(20).fields[0]!.name, 'xid');
  });
});
