/**
 * The Cumulocity static SmartREST templates as data (publish on `s/us`, downstream on `s/ds`),
 * plus the special lines of `s/dt`, `s/e`, `s/dcr` and `s/dat`.
 *
 * Names are the headings of the Cumulocity "MQTT static templates" page; field names are camelCase.
 * Positions count after the message ID and, for operations (`target: true`), after the target
 * device's external ID, which is not listed in `fields`.
 *
 * Decisions where the sources are unclear:
 * - 210: rssi and ber are each optional; "one of them required" is not expressible as data and is not enforced.
 * - 401/402: accuracy is an integer like 112 (the static page says Number for 401/402, Integer for 112).
 * - 522: dateFrom/dateTo are `date`, maximumLines is `integer` (documented as Integer).
 * - 527/531 isPatch stays a string (documented as String; values seen are `true`/`false`).
 * - Downstream lines have no "mandatory" column in the docs; only the fields without which the line is
 *   meaningless are marked mandatory (e.g. 511 command, 518 state, 530 hostname/port/connectionKey).
 * - 40–50 on `s/e`: `relatedId` (may be empty) then the free, unescaped `text` (`restIsText`).
 *   On `s/dt`, `41,<X-ID>` therefore puts the X-ID into `relatedId`.
 * - 20 on `s/dt`: `xid`, `collectionId`.
 * - 531 is documented only on the device-profile fragment page; its name here is descriptive.
 * - 504–506 share their documented names with 501–503 ("Set operation to …"); the ID tells them apart.
 */
import type { FieldKind, FieldSpec, RepeatSpec, SectionSpec, TemplateSpec } from './types.js';

const M = true;

function field(name: string, kind: FieldKind, mandatory?: boolean, text?: boolean): FieldSpec {
  const f: FieldSpec = { name, kind };
  if (mandatory) f.mandatory = true;
  if (text) f.text = true;
  return f;
}
const str = (name: string, mandatory?: boolean): FieldSpec => field(name, 'string', mandatory);
const txt = (name: string, mandatory?: boolean): FieldSpec => field(name, 'string', mandatory, true);
const num = (name: string, mandatory?: boolean): FieldSpec => field(name, 'number', mandatory);
const int = (name: string, mandatory?: boolean): FieldSpec => field(name, 'integer', mandatory);
const bool = (name: string, mandatory?: boolean): FieldSpec => field(name, 'boolean', mandatory);
const date = (name: string, mandatory?: boolean): FieldSpec => field(name, 'date', mandatory);

function group(name: string, fields: FieldSpec[], min?: number): RepeatSpec {
  return min ? { name, fields, min } : { name, fields };
}
/** A variadic list: a repeat group of one field (an array of scalars in `values`). */
const list = (name: string, item: string, mandatory?: boolean, min?: number): RepeatSpec =>
  group(name, [str(item, mandatory)], min);

const up = (
  id: number,
  name: string,
  category: TemplateSpec['category'],
  fields: FieldSpec[] = [],
  repeat?: RepeatSpec,
): TemplateSpec => (repeat ? { id, name, direction: 'up', category, fields, repeat } : { id, name, direction: 'up', category, fields });

const down = (
  id: number,
  name: string,
  category: TemplateSpec['category'],
  fields: FieldSpec[] = [],
  repeat?: RepeatSpec,
): TemplateSpec => (repeat ? { id, name, direction: 'down', category, fields, repeat } : { id, name, direction: 'down', category, fields });

/** A downstream operation 510–531: first field after the ID is the target device. */
function op(
  id: number,
  name: string,
  operation: string,
  fields: FieldSpec[] = [],
  extra?: { repeat?: RepeatSpec; sections?: SectionSpec[] },
): TemplateSpec {
  const t: TemplateSpec = { id, name, direction: 'down', category: 'operation', operation, target: true, fields };
  if (extra?.repeat) t.repeat = extra.repeat;
  if (extra?.sections) t.sections = extra.sections;
  return t;
}

/** s/e (and SR1) error lines: `<code>,<related ID>,<free text, not CSV-escaped>`. */
const error = (id: number, name: string): TemplateSpec => ({
  id,
  name,
  direction: 'down',
  category: 'error',
  fields: [str('relatedId'), txt('text')],
  restIsText: true,
});

const alarm = (id: number, name: string): TemplateSpec => up(id, name, 'alarm', [str('type', M), txt('text'), date('time')]);
const position = (id: number, name: string, category: TemplateSpec['category']): TemplateSpec =>
  up(id, name, category, [num('latitude'), num('longitude'), num('altitude'), int('accuracy'), ...(category === 'event' ? [date('time')] : [])]);

const advancedSoftware = (): RepeatSpec => group('software', [str('name', M), str('version', M), str('softwareType'), str('url')]);

function deviceProfileSections(withType: boolean): SectionSpec[] {
  const software = withType
    ? [str('name'), str('version'), str('softwareType'), str('url'), str('action')]
    : [str('name'), str('version'), str('url'), str('action')];
  return [
    { marker: '$FW', name: 'firmware', fields: [str('name'), str('version'), str('url'), str('isPatch'), str('dependency')] },
    { marker: '$SW', name: 'software', repeat: group('software', software) },
    { marker: '$CONF', name: 'configurations', repeat: group('configurations', [str('url'), str('type')]) },
  ];
}

const TEMPLATES: TemplateSpec[] = [
  // ---- Inventory (publish) ----
  up(100, 'Device creation', 'inventory', [str('name'), str('type')]),
  up(101, 'Child device creation', 'inventory', [str('uniqueChildId', M), str('name'), str('type'), bool('deviceMarker')]),
  up(102, 'Service creation', 'inventory', [str('serviceExternalId', M), str('serviceType', M), str('serviceName', M), str('status', M)]),
  up(104, 'Service status update', 'inventory', [str('status', M)]),
  up(105, 'Get child devices', 'inventory'),
  up(107, "Clear device's fragment", 'inventory', [], list('fragments', 'fragment', M, 1)),
  up(110, 'Configure Hardware', 'inventory', [str('serialNumber'), str('model'), str('revision')]),
  up(111, 'Configure Mobile', 'inventory', [str('imei'), str('iccid'), str('imsi'), str('mcc'), str('mnc'), str('lac'), str('cellId')]),
  position(112, 'Configure Position', 'inventory'),
  up(113, 'Set Configuration', 'inventory', [txt('configuration')]),
  up(114, 'Set supported operations', 'inventory', [], list('operations', 'operation')),
  up(115, 'Set firmware', 'inventory', [str('name'), str('version'), str('url')]),
  up(116, 'Set software list', 'inventory', [], group('software', [str('name'), str('version'), str('url')])),
  up(117, 'Set required availability', 'inventory', [int('interval')]),
  up(118, 'Set supported logs', 'inventory', [], list('logTypes', 'logType')),
  up(119, 'Set supported configurations', 'inventory', [], list('configTypes', 'configType')),
  up(120, 'Set currently installed configuration', 'inventory', [str('configType', M), str('url', M), str('fileName'), date('time')]),
  up(121, 'Set device profile that is being applied', 'inventory', [bool('profileExecuted', M), str('profileId')]),
  up(122, 'Set device agent information', 'inventory', [str('name', M), str('version', M), str('url'), str('maintainer', M)]),
  up(123, 'Get the device managed object ID', 'inventory'),
  up(125, 'Send heartbeat', 'inventory'),
  up(140, 'Set advanced software list', 'inventory', [], advancedSoftware()),
  up(141, 'Append advanced software items', 'inventory', [], advancedSoftware()),
  up(142, 'Remove advanced software items', 'inventory', [], group('software', [str('name', M), str('version', M)])),
  up(143, 'Set supported software types', 'inventory', [], list('softwareTypes', 'softwareType')),
  up(150, 'Set supported remote access protocols', 'inventory', [], list('protocols', 'protocol')),

  // ---- Measurements ----
  up(200, 'Create custom measurement', 'measurement', [str('fragment', M), str('series', M), num('value', M), str('unit'), date('time')]),
  up(
    201,
    'Create a custom measurement with multiple fragments and series',
    'measurement',
    [str('type', M), date('time')],
    group('measurements', [str('fragment', M), str('series', M), num('value', M), str('unit')], 1),
  ),
  up(210, 'Create signal strength measurement', 'measurement', [num('rssi'), num('ber'), date('time')]),
  up(211, 'Create temperature measurement', 'measurement', [num('value', M), date('time')]),
  up(212, 'Create battery measurement', 'measurement', [num('value', M), date('time')]),

  // ---- Alarms ----
  alarm(301, 'Create CRITICAL alarm'),
  alarm(302, 'Create MAJOR alarm'),
  alarm(303, 'Create MINOR alarm'),
  alarm(304, 'Create WARNING alarm'),
  up(305, 'Update severity of existing alarm', 'alarm', [str('type', M), str('severity', M)]),
  up(306, 'Clear existing alarm', 'alarm', [str('type', M)]),
  up(307, "Clear alarm's fragment", 'alarm', [str('type', M)], list('fragments', 'fragment', M, 1)),

  // ---- Events ----
  up(400, 'Create basic event', 'event', [str('type', M), txt('text', M), date('time')]),
  position(401, 'Create location update event', 'event'),
  position(402, 'Create location update event with device update', 'event'),
  up(407, "Clear event's fragment", 'event', [str('eventType', M)], list('fragments', 'fragment')),
  up(
    408,
    'Create device parameter update events',
    'event',
    [txt('text'), date('time'), bool('changeDetect')],
    group('parameters', [str('path', M), str('type', M), str('value')], 1),
  ),

  // ---- Operation status ----
  up(500, 'Get PENDING operations', 'operation-status'),
  up(501, 'Set operation to EXECUTING', 'operation-status', [str('fragment', M)]),
  up(502, 'Set operation to FAILED', 'operation-status', [str('fragment', M), txt('failureReason')]),
  up(503, 'Set operation to SUCCESSFUL', 'operation-status', [str('fragment', M)], list('parameters', 'parameter')),
  up(504, 'Set operation to EXECUTING', 'operation-status', [str('operationId', M)]),
  up(505, 'Set operation to FAILED', 'operation-status', [str('operationId', M), txt('failureReason')]),
  up(506, 'Set operation to SUCCESSFUL', 'operation-status', [str('operationId', M)], list('parameters', 'parameter')),
  up(507, 'Set EXECUTING operations to FAILED', 'operation-status', [str('fragment'), txt('failureReason')]),

  // ---- Platform capabilities (publish) ----
  up(600, 'Get platform version', 'capability'),
  up(602, 'List of valid SmartREST templates', 'capability'),

  // ---- Downstream answers (no target) ----
  down(106, 'Get children of device', 'response', [], list('children', 'child')),
  down(124, 'Get the device managed object ID', 'response', [str('id', M)]),
  down(601, 'Return platform version', 'capability', [str('version', M)]),
  down(603, 'Return list of valid SmartREST templates', 'capability', [], list('ids', 'id')),

  // ---- Downstream operations (target first) ----
  op(510, 'Restart', 'c8y_Restart'),
  op(511, 'Command', 'c8y_Command', [txt('command', M)]),
  op(513, 'Configuration', 'c8y_Configuration', [txt('configuration')]),
  op(515, 'Firmware', 'c8y_Firmware', [str('name', M), str('version', M), str('url')]),
  op(516, 'Software list', 'c8y_SoftwareList', [], { repeat: group('software', [str('name', M), str('version'), str('url')]) }),
  op(517, 'Measurement request operation', 'c8y_MeasurementRequestOperation', [str('requestName', M)]),
  op(518, 'Relay', 'c8y_Relay', [str('state', M)]),
  op(519, 'RelayArray', 'c8y_RelayArray', [], { repeat: list('states', 'state') }),
  op(520, 'Upload configuration file', 'c8y_UploadConfigFile'),
  op(521, 'Download configuration file', 'c8y_DownloadConfigFile', [str('url', M)]),
  op(522, 'Logfile request', 'c8y_LogfileRequest', [str('logFile', M), date('dateFrom'), date('dateTo'), str('searchText'), int('maximumLines')]),
  op(523, 'Communication mode', 'c8y_CommunicationMode', [str('mode', M)]),
  op(524, 'Download configuration file with type', 'c8y_DownloadConfigFile', [str('url', M), str('configType')]),
  op(525, 'Firmware from patch', 'c8y_Firmware', [str('name', M), str('version', M), str('url'), str('dependency')]),
  op(526, 'Upload configuration file with type', 'c8y_UploadConfigFile', [str('configType', M)]),
  op(527, 'Set device profiles', 'c8y_DeviceProfile', [], { sections: deviceProfileSections(false) }),
  op(528, 'Update software', 'c8y_SoftwareUpdate', [], {
    repeat: group('software', [str('name', M), str('version'), str('url'), str('action', M)]),
  }),
  op(529, 'Update advanced software', 'c8y_SoftwareUpdate', [], {
    repeat: group('software', [str('name', M), str('version'), str('softwareType'), str('url'), str('action', M)]),
  }),
  op(530, 'Cloud Remote Access connect', 'c8y_RemoteAccessConnect', [str('hostname', M), int('port', M), str('connectionKey', M)]),
  op(531, 'Set device profiles with software types', 'c8y_DeviceProfile', [], { sections: deviceProfileSections(true) }),

  // ---- s/dt, s/e, s/dcr, s/dat ----
  down(20, 'Template collection found', 'template', [str('xid', M), str('collectionId')]),
  error(40, 'Template not found'),
  error(41, 'Request refused'),
  error(42, 'Malformed request line'),
  error(43, 'Invalid message identifier'),
  error(45, 'Invalid message arguments'),
  error(50, 'Server error'),
  down(70, 'Device credentials', 'credentials', [str('tenant', M), str('username', M), str('password', M)]),
  down(71, 'Device access token', 'credentials', [str('token', M)]),
];

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Every static template, frozen (shared by all users of the module). */
export const STATIC_TEMPLATES: readonly TemplateSpec[] = deepFreeze(TEMPLATES);

const BY_KEY = new Map<string, TemplateSpec>();
for (const t of STATIC_TEMPLATES) BY_KEY.set(String(t.id), t);

const DIGITS = /^[0-9]+$/;

/** The static template for a message ID (`200`, `"200"`; `"0200"` resolves too). O(1). */
export function findTemplate(id: number | string): TemplateSpec | undefined {
  if (typeof id === 'number') return BY_KEY.get(String(id));
  const hit = BY_KEY.get(id);
  if (hit !== undefined || !DIGITS.test(id)) return hit;
  return BY_KEY.get(String(Number(id)));
}

/** Operation fragment → IDs of the downstream operation templates carrying it (e.g. `c8y_Firmware` → [515, 525]). */
export const OPERATION_FRAGMENTS: Readonly<Record<string, readonly number[]>> = (() => {
  const out: Record<string, number[]> = {};
  for (const t of STATIC_TEMPLATES) {
    if (t.operation) (out[t.operation] ??= []).push(t.id);
  }
  return deepFreeze(out);
})();
