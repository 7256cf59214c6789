import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeRecord, recordToFields, SmartRestRecordError, type TemplateLookup } from '../../src/smartrest/records.js';
import type { NamedRecord, TemplateSpec } from '../../src/smartrest/types.js';

/** Splits a plain (unquoted) line into a codec record. */
const line = (s: string): string[] => s.split(',');

/** Asserts a SmartRestRecordError whose message contains every given part. */
function throwsRecordError(fn: () => unknown, parts: { record?: number; template?: string; field?: string; text?: RegExp }): SmartRestRecordError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SmartRestRecordError, `expected SmartRestRecordError, got ${String(caught)}`);
  const err = caught;
  if (parts.record !== undefined) {
    assert.equal(err.record, parts.record);
    assert.match(err.message, new RegExp(`record ${parts.record}\\b`));
  }
  if (parts.template !== undefined) {
    assert.equal(err.template, parts.template);
    assert.ok(err.message.includes(`template ${parts.template}`), err.message);
  }
  if (parts.field !== undefined) {
    assert.equal(err.field, parts.field);
    assert.ok(err.message.includes(`field "${parts.field}"`), err.message);
  }
  if (parts.text) assert.match(err.message, parts.text);
  return err;
}

/** Named → fields → describe → same values; and fields → describe → named → same fields. */
function roundTrip(named: NamedRecord, expected: string[]): void {
  const fields = recordToFields(named);
  assert.deepEqual(fields, expected);
  const decoded = describeRecord(fields);
  assert.deepEqual(decoded.values, named.values);
  if (named.device !== undefined) assert.equal(decoded.device, named.device);
  const again = recordToFields({ messageId: decoded.messageId, values: decoded.values!, device: decoded.device });
  assert.deepEqual(again, expected);
}

const T200 = '200 (Create custom measurement)';

describe('recordToFields: input forms', () => {
  it('accepts the array form with numbers and booleans', () => {
    assert.deepEqual(recordToFields(['200', 'c8y_Temperature', 'T', '21.5', 'C']), ['200', 'c8y_Temperature', 'T', '21.5', 'C']);
    assert.deepEqual(recordToFields([200, 'c8y_Temperature', 'T', 21.5, 'C']), ['200', 'c8y_Temperature', 'T', '21.5', 'C']);
    assert.deepEqual(recordToFields([101, 'child1', 'Child', '', false]), ['101', 'child1', 'Child', '', 'false']);
  });

  it('accepts the raw form, including a decoded record fed back', () => {
    assert.deepEqual(recordToFields({ messageId: 211, fields: ['25', '2016-06-22T17:03:14.000+02:00'] }), ['211', '25', '2016-06-22T17:03:14.000+02:00']);
    const decoded = describeRecord(line('511,myDeviceSerial,execute this'));
    assert.deepEqual(recordToFields(decoded), ['511', 'myDeviceSerial', 'execute this']);
  });

  it('accepts the named form', () => {
    assert.deepEqual(recordToFields({ messageId: 200, values: { fragment: 'c8y_Temperature', series: 'T', value: 25 } }), ['200', 'c8y_Temperature', 'T', '25']);
    assert.deepEqual(recordToFields({ messageId: '200', values: { fragment: 'f', series: 's', value: '1e3', unit: 'C' } }), ['200', 'f', 's', '1e3', 'C']);
  });

  it('drops trailing empty fields and keeps inner ones', () => {
    assert.deepEqual(recordToFields(['100', '', '']), ['100']);
    assert.deepEqual(recordToFields({ messageId: 100, values: {} }), ['100']);
    assert.deepEqual(recordToFields({ messageId: 100, values: { type: 'myType' } }), ['100', '', 'myType']);
    assert.deepEqual(recordToFields(['304', 'c8y_TemperatureAlarm', '', '2013-06-22T17:03:14.000+02:00']), ['304', 'c8y_TemperatureAlarm', '', '2013-06-22T17:03:14.000+02:00']);
    assert.deepEqual(recordToFields({ messageId: 301, values: { type: 'x', text: null, time: undefined } }), ['301', 'x']);
  });

  it('does no CSV escaping', () => {
    const out = recordToFields({ messageId: 400, values: { type: 'c8y_MyEvent', text: 'a, "quoted"\nline' } });
    assert.deepEqual(out, ['400', 'c8y_MyEvent', 'a, "quoted"\nline']);
  });

  it('converts dates', () => {
    const d = new Date('2024-01-02T03:04:05.678Z');
    assert.deepEqual(recordToFields({ messageId: 211, values: { value: 20, time: d } }), ['211', '20', '2024-01-02T03:04:05.678Z']);
    assert.deepEqual(recordToFields({ messageId: 211, values: { value: 20, time: d.getTime() } }), ['211', '20', '2024-01-02T03:04:05.678Z']);
    assert.deepEqual(recordToFields([211, 20, d as unknown as string]), ['211', '20', '2024-01-02T03:04:05.678Z']);
    assert.deepEqual(recordToFields({ messageId: 211, values: { value: 20, time: '2016-06-22T17:03:14.000+02:00' } }), ['211', '20', '2016-06-22T17:03:14.000+02:00']);
  });

  it('converts booleans and integers', () => {
    assert.deepEqual(recordToFields({ messageId: 121, values: { profileExecuted: true, profileId: 8473 } }), ['121', 'true', '8473']);
    assert.deepEqual(recordToFields({ messageId: 121, values: { profileExecuted: 'false' } }), ['121', 'false']);
    assert.deepEqual(recordToFields({ messageId: 117, values: { interval: 60 } }), ['117', '60']);
    assert.deepEqual(recordToFields({ messageId: 112, values: { latitude: 50.323423, longitude: 6.423423, accuracy: 5 } }), ['112', '50.323423', '6.423423', '', '5']);
  });
});

describe('recordToFields: errors', () => {
  it('refuses non-finite numbers naming record, template and field', () => {
    const err = throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'c8y_T', series: 'T', value: NaN } }, { index: 2 }), {
      record: 2,
      template: T200,
      field: 'value',
    });
    assert.equal(err.message, 'record 2, template 200 (Create custom measurement), field "value": must be a finite number, got NaN');
    throwsRecordError(() => recordToFields({ messageId: 100, values: { name: Infinity } }), { field: 'name', text: /finite|got Infinity/ });
    throwsRecordError(() => recordToFields(['200', 'f', 's', -Infinity]), { template: T200, field: 'value', text: /got -Infinity/ });
  });

  it('refuses non-numeric numbers, non-integers and non-booleans', () => {
    throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', series: 's', value: 'abc' } }), { field: 'value', text: /finite number, got "abc"/ });
    throwsRecordError(() => recordToFields(['200', 'f', 's', 'abc']), { field: 'value', text: /finite number/ });
    throwsRecordError(() => recordToFields({ messageId: 117, values: { interval: 1.5 } }), { field: 'interval', text: /integer, got 1\.5/ });
    throwsRecordError(() => recordToFields({ messageId: 117, values: { interval: '1.5' } }), { field: 'interval', text: /integer/ });
    throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', series: 's', value: true } }), { field: 'value' });
    throwsRecordError(() => recordToFields({ messageId: 121, values: { profileExecuted: 'yes' } }), { field: 'profileExecuted', text: /true or false/ });
    throwsRecordError(() => recordToFields({ messageId: 211, values: { value: 1, time: new Date(NaN) } }), { field: 'time', text: /invalid Date/ });
    throwsRecordError(() => recordToFields({ messageId: 211, values: { value: 1, time: true } }), { field: 'time' });
  });

  it('refuses objects and arrays where a scalar is expected', () => {
    throwsRecordError(() => recordToFields({ messageId: 100, values: { name: { a: 1 } } }), { template: '100 (Device creation)', field: 'name', text: /got an object/ });
    throwsRecordError(() => recordToFields({ messageId: 100, values: { name: ['a'] } }), { field: 'name', text: /got an array/ });
    throwsRecordError(() => recordToFields(['100', { a: 1 } as unknown as string]), { field: 'name' });
    throwsRecordError(() => recordToFields({ messageId: 114, values: { operations: [['c8y_Restart']] } }), { field: 'operations[0]' });
  });

  it('refuses missing or empty mandatory fields', () => {
    throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', value: 1 } }, { index: 4 }), {
      record: 4,
      template: T200,
      field: 'series',
      text: /mandatory/,
    });
    throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', series: '', value: 1 } }), { field: 'series' });
    throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', series: null, value: 1 } }), { field: 'series' });
    // by position in raw/array forms
    throwsRecordError(() => recordToFields(['200', 'c8y_T', 'T']), { field: 'value', text: /mandatory/ });
    throwsRecordError(() => recordToFields({ messageId: 102, fields: ['ext', 'systemd', '', 'up'] }), { field: 'serviceName' });
    throwsRecordError(() => recordToFields(['400', 'c8y_MyEvent']), { field: 'text' });
  });

  it('checks mandatory fields of every repetition by position', () => {
    throwsRecordError(() => recordToFields(['201', 'T', '', 'f1', 's1', '1', 'u', 'f2', '', '2']), {
      template: '201 (Create a custom measurement with multiple fragments and series)',
      field: 'measurements[1].series',
    });
    throwsRecordError(() => recordToFields(['201', 'T', '', 'f1', 's1', '1', 'u', 'f2', 's2']), { field: 'measurements[1].value' });
    throwsRecordError(() => recordToFields(['142', 'docker', '3.2.1', 'nginx']), { field: 'software[1].version' });
    throwsRecordError(() => recordToFields(['107', 'c8y_Position', '', 'c8y_Configuration']), { field: 'fragments[1]' });
  });

  it('refuses unknown keys, listing the known names', () => {
    const err = throwsRecordError(() => recordToFields({ messageId: 200, values: { fragment: 'f', series: 's', value: 1, units: 'C' } }), {
      template: T200,
      field: 'units',
    });
    assert.match(err.message, /known: fragment, series, value, unit, time/);
    throwsRecordError(() => recordToFields({ messageId: 201, values: { type: 'T', measurements: [{ fragment: 'f', series: 's', value: 1, foo: 1 }] } }), {
      field: 'measurements[0].foo',
      text: /known: fragment, series, value, unit/,
    });
    throwsRecordError(() => recordToFields({ messageId: 511, values: { device: 'x', command: 'ls' } }), { field: 'device', text: /known: command/ });
    throwsRecordError(() => recordToFields({ messageId: 527, device: 'D', values: { firmware: { name: 'a', patch: true } } }), { field: 'firmware.patch' });
  });

  it('refuses a repeat group below its minimum', () => {
    throwsRecordError(() => recordToFields({ messageId: 201, values: { type: 'T' } }), { field: 'measurements', text: /at least 1/ });
    throwsRecordError(() => recordToFields({ messageId: 201, values: { type: 'T', measurements: [] } }), { field: 'measurements' });
    throwsRecordError(() => recordToFields(['107']), { field: 'fragments', text: /at least 1/ });
    throwsRecordError(() => recordToFields({ messageId: 408, values: { text: 'x' } }), { field: 'parameters' });
    throwsRecordError(() => recordToFields({ messageId: 201, values: { type: 'T', measurements: { fragment: 'f' } } }), { field: 'measurements', text: /array/ });
  });

  it('refuses unknown message IDs unless allowUnknown', () => {
    throwsRecordError(() => recordToFields(['999', 'x'], { index: 3 }), { record: 3, template: '999', text: /unknown message ID/ });
    throwsRecordError(() => recordToFields({ messageId: 'myTemplate', fields: ['a'] }), { template: 'myTemplate' });
    assert.deepEqual(recordToFields(['999', 'x', 1, '', ''], { allowUnknown: true }), ['999', 'x', '1']);
    assert.deepEqual(recordToFields({ messageId: 'myTemplate', fields: ['a', 'b'] }, { allowUnknown: true }), ['myTemplate', 'a', 'b']);
    throwsRecordError(() => recordToFields(['999', NaN], { allowUnknown: true }), { template: '999', text: /NaN/ });
    throwsRecordError(() => recordToFields({ messageId: 999, values: { a: 1 } }, { allowUnknown: true }), { template: '999', text: /template/ });
  });

  it('refuses malformed records', () => {
    assert.throws(() => recordToFields([]), SmartRestRecordError);
    assert.throws(() => recordToFields({ messageId: '', fields: [] }), SmartRestRecordError);
    assert.throws(() => recordToFields({ messageId: NaN, fields: [] }), SmartRestRecordError);
    assert.throws(() => recordToFields({ messageId: 200 } as never), /fields|values/);
    assert.throws(() => recordToFields('200,a' as never), SmartRestRecordError);
  });

  it('requires the target of operations', () => {
    throwsRecordError(() => recordToFields({ messageId: 510, values: {} }), { template: '510 (Restart)', field: 'device' });
    throwsRecordError(() => recordToFields(['510']), { field: 'device' });
    throwsRecordError(() => recordToFields({ messageId: 511, device: 'D', values: {} }), { field: 'command' });
  });
});

describe('repeat groups and sections both ways', () => {
  it('201 with two measurements', () => {
    roundTrip(
      {
        messageId: 201,
        values: {
          type: 'KamstrupA220Reading',
          time: '2022-03-19T12:03:27.845Z',
          measurements: [
            { fragment: 'c8y_SinglePhaseEnergyMeasurement', series: 'A+:1', value: 1234, unit: 'kWh' },
            { fragment: 'c8y_SinglePhaseEnergyMeasurement', series: 'A-:1', value: 2345.5 },
          ],
        },
      },
      ['201', 'KamstrupA220Reading', '2022-03-19T12:03:27.845Z', 'c8y_SinglePhaseEnergyMeasurement', 'A+:1', '1234', 'kWh', 'c8y_SinglePhaseEnergyMeasurement', 'A-:1', '2345.5'],
    );
    // empty unit between repetitions keeps its comma
    assert.deepEqual(
      recordToFields({ messageId: 201, values: { type: 'T', measurements: [{ fragment: 'a', series: 'b', value: 1 }, { fragment: 'c', series: 'd', value: 2, unit: 'V' }] } }),
      ['201', 'T', '', 'a', 'b', '1', '', 'c', 'd', '2', 'V'],
    );
  });

  it('116 software triples', () => {
    const d = describeRecord(line('116,software1,version1,url1,software2,,url2,software3,version3'));
    assert.deepEqual(d.values, {
      software: [
        { name: 'software1', version: 'version1', url: 'url1' },
        { name: 'software2', url: 'url2' },
        { name: 'software3', version: 'version3' },
      ],
    });
    assert.deepEqual(recordToFields({ messageId: 116, values: d.values! }), line('116,software1,version1,url1,software2,,url2,software3,version3'));
  });

  it('140 and 142 software', () => {
    roundTrip(
      {
        messageId: 140,
        values: {
          software: [
            { name: 'docker', version: '3.2.1', softwareType: 'systemd', url: 'https://www.docker.com/' },
            { name: 'nginx', version: '1.6', softwareType: 'container', url: 'https://www.nginx.com/' },
          ],
        },
      },
      line('140,docker,3.2.1,systemd,https://www.docker.com/,nginx,1.6,container,https://www.nginx.com/'),
    );
    roundTrip({ messageId: 142, values: { software: [{ name: 'docker', version: '3.2.1' }, { name: 'nginx', version: '1.6' }] } }, line('142,docker,3.2.1,nginx,1.6'));
  });

  it('408 parameters after text, time, changeDetect', () => {
    const d = describeRecord(line('408,,,,c8y_RelayStatus.left,BOOLEAN,true,c8y_RelayStatus.right,BOOLEAN,false'));
    assert.equal(d.name, 'Create device parameter update events');
    assert.deepEqual(d.values, {
      parameters: [
        { path: 'c8y_RelayStatus.left', type: 'BOOLEAN', value: 'true' },
        { path: 'c8y_RelayStatus.right', type: 'BOOLEAN', value: 'false' },
      ],
    });
    roundTrip(
      { messageId: 408, values: { text: 'changed', changeDetect: true, parameters: [{ path: 'a.b', type: 'NUMBER', value: '1' }] } },
      ['408', 'changed', '', 'true', 'a.b', 'NUMBER', '1'],
    );
  });

  it('527 with all three sections', () => {
    const text =
      '527,DeviceSerial,$FW,firmwareName,1.0,http://www.my.url,true,dependency,$SW,softwareA,1.0,http://www.my.url1,action1,softwareB,2.0,http://www.my.url2,action2,$CONF,http://www.my.url1,type1,http://www.my.url2,type2';
    const d = describeRecord(line(text));
    assert.equal(d.name, 'c8y_DeviceProfile');
    assert.equal(d.device, 'DeviceSerial');
    const values = {
      firmware: { name: 'firmwareName', version: '1.0', url: 'http://www.my.url', isPatch: 'true', dependency: 'dependency' },
      software: [
        { name: 'softwareA', version: '1.0', url: 'http://www.my.url1', action: 'action1' },
        { name: 'softwareB', version: '2.0', url: 'http://www.my.url2', action: 'action2' },
      ],
      configurations: [
        { url: 'http://www.my.url1', type: 'type1' },
        { url: 'http://www.my.url2', type: 'type2' },
      ],
    };
    assert.deepEqual(d.values, values);
    roundTrip({ messageId: 527, device: 'DeviceSerial', values }, line(text));
  });

  it('527 keeps every marker when sections are empty', () => {
    const out = recordToFields({ messageId: 527, device: 'D', values: { software: [{ name: 'a', version: '1', url: 'u', action: 'install' }] } });
    assert.deepEqual(out, ['527', 'D', '$FW', '', '', '', '', '', '$SW', 'a', '1', 'u', 'install', '$CONF']);
    const d = describeRecord(out);
    assert.deepEqual(d.values, { firmware: {}, software: [{ name: 'a', version: '1', url: 'u', action: 'install' }], configurations: [] });
    // raw form is validated by section
    throwsRecordError(() => recordToFields(['527', 'D', '$FW', 'x', '$SW', 'a', '1', 'u', {} as unknown as string]), { field: 'software[0].action' });
  });

  it('531 software carries a type', () => {
    const d = describeRecord(line('531,D,$FW,fw,2.0,http://fw,false,,$SW,nginx,1.6,container,http://sw,install,$CONF'));
    assert.deepEqual(d.values, {
      firmware: { name: 'fw', version: '2.0', url: 'http://fw', isPatch: 'false' },
      software: [{ name: 'nginx', version: '1.6', softwareType: 'container', url: 'http://sw', action: 'install' }],
      configurations: [],
    });
  });

  it('519 relay states', () => {
    roundTrip({ messageId: 519, device: 'DeviceSerial', values: { states: ['OPEN', 'CLOSE', 'CLOSE', 'OPEN'] } }, line('519,DeviceSerial,OPEN,CLOSE,CLOSE,OPEN'));
  });

  it('114 supported operations', () => {
    roundTrip({ messageId: 114, values: { operations: ['c8y_Restart', 'c8y_Configuration', 'c8y_SoftwareList'] } }, line('114,c8y_Restart,c8y_Configuration,c8y_SoftwareList'));
    assert.deepEqual(recordToFields({ messageId: 114, values: { operations: [] } }), ['114']);
  });

  it('503 with parameters', () => {
    roundTrip({ messageId: 503, values: { fragment: 'c8y_RelayArray', parameters: ['CLOSED', 'OPEN'] } }, line('503,c8y_RelayArray,CLOSED,OPEN'));
    roundTrip({ messageId: 506, values: { operationId: '123', parameters: ['http://file'] } }, line('506,123,http://file'));
    assert.deepEqual(describeRecord(line('503,c8y_Restart')).values, { fragment: 'c8y_Restart', parameters: [] });
    // empty parameters inside the list keep their place
    assert.deepEqual(describeRecord(line('503,c8y_RelayArray,OPEN,,CLOSED')).values, { fragment: 'c8y_RelayArray', parameters: ['OPEN', '', 'CLOSED'] });
  });

  it('307, 407, 106, 603 lists', () => {
    roundTrip({ messageId: 307, values: { type: 'c8y_TemperatureAlarm', fragments: ['c8y_Position', 'c8y_Configuration'] } }, line('307,c8y_TemperatureAlarm,c8y_Position,c8y_Configuration'));
    roundTrip({ messageId: 407, values: { eventType: 'c8y_MyEvent', fragments: ['c8y_Position'] } }, line('407,c8y_MyEvent,c8y_Position'));
    assert.deepEqual(describeRecord(line('106,child1,child2,child3')).values, { children: ['child1', 'child2', 'child3'] });
    assert.deepEqual(describeRecord(['106']).values, { children: [] });
    assert.deepEqual(describeRecord(line('603,100,101,102')).values, { ids: ['100', '101', '102'] });
  });

  it('528 and 529 software updates', () => {
    roundTrip(
      { messageId: 528, device: 'DeviceSerial', values: { software: [{ name: 'softwareA', version: '1.0', url: 'url1', action: 'install' }, { name: 'softwareB', version: '2.0', url: 'url2', action: 'delete' }] } },
      line('528,DeviceSerial,softwareA,1.0,url1,install,softwareB,2.0,url2,delete'),
    );
    const d = describeRecord(line('529,DeviceSerial,nginx,1.6,container,http://x,install'));
    assert.deepEqual(d.values, { software: [{ name: 'nginx', version: '1.6', softwareType: 'container', url: 'http://x', action: 'install' }] });
  });
});

describe('describeRecord', () => {
  it('gives numbers for numeric IDs and strings otherwise', () => {
    assert.equal(describeRecord(['200', 'a', 'b', '1']).messageId, 200);
    assert.equal(describeRecord(['myTpl', 'a']).messageId, 'myTpl');
    assert.deepEqual(describeRecord(['myTpl', 'a']), { messageId: 'myTpl', fields: ['a'] });
    assert.deepEqual(describeRecord(['999', 'x', '']), { messageId: 999, fields: ['x', ''] });
  });

  it('types values and omits empty optional fields', () => {
    const d = describeRecord(line('200,c8y_Temperature,T,25'));
    assert.deepEqual(d, { messageId: 200, fields: ['c8y_Temperature', 'T', '25'], name: 'Create custom measurement', values: { fragment: 'c8y_Temperature', series: 'T', value: 25 } });
    assert.deepEqual(describeRecord(line('210,-90,23,2016-06-22T17:03:14.000+02:00')).values, { rssi: -90, ber: 23, time: '2016-06-22T17:03:14.000+02:00' });
    assert.deepEqual(describeRecord(line('101,uniqueChildId,myChildDevice,myChildType,true')).values, {
      uniqueChildId: 'uniqueChildId',
      name: 'myChildDevice',
      type: 'myChildType',
      deviceMarker: true,
    });
    assert.deepEqual(describeRecord(line('121,false')).values, { profileExecuted: false });
    assert.deepEqual(describeRecord(line('112,50.323423,6.423423,,7')).values, { latitude: 50.323423, longitude: 6.423423, accuracy: 7 });
    assert.deepEqual(describeRecord(['100', '', '']).values, {});
    // non-numeric text in a number field is kept as text when not strict
    assert.deepEqual(describeRecord(line('200,f,s,abc')).values, { fragment: 'f', series: 's', value: 'abc' });
    assert.deepEqual(describeRecord(line('117,1.5')).values, { interval: '1.5' });
  });

  it('describes operations with device and fragment name', () => {
    const d = describeRecord(['511', 'myDeviceSerial', 'execute this\nand this\nand "this"']);
    assert.equal(d.name, 'c8y_Command');
    assert.equal(d.device, 'myDeviceSerial');
    assert.deepEqual(d.values, { command: 'execute this\nand this\nand "this"' });
    assert.deepEqual(d.fields, ['myDeviceSerial', 'execute this\nand this\nand "this"']);

    const r = describeRecord(line('510,DeviceSerial'));
    assert.deepEqual(r, { messageId: 510, fields: ['DeviceSerial'], name: 'c8y_Restart', values: {}, device: 'DeviceSerial' });

    const log = describeRecord(line('522,DeviceSerial,syslog,2021-09-21T11:40:27+0200,2021-09-21T12:40:27+0200,ERROR,1000'));
    assert.equal(log.name, 'c8y_LogfileRequest');
    assert.equal(log.device, 'DeviceSerial');
    assert.deepEqual(log.values, { logFile: 'syslog', dateFrom: '2021-09-21T11:40:27+0200', dateTo: '2021-09-21T12:40:27+0200', searchText: 'ERROR', maximumLines: 1000 });

    const ra = describeRecord(line('530,DeviceSerial,10.0.0.67,22,eb5e9d13-1caa-486b-bdda-130ca0d87df8'));
    assert.equal(ra.name, 'c8y_RemoteAccessConnect');
    assert.deepEqual(ra.values, { hostname: '10.0.0.67', port: 22, connectionKey: 'eb5e9d13-1caa-486b-bdda-130ca0d87df8' });

    assert.deepEqual(describeRecord(line('515,DeviceSerial,myFirmware,1.0,$PROVIDED')).values, { name: 'myFirmware', version: '1.0', url: '$PROVIDED' });
    assert.deepEqual(describeRecord(line('524,DeviceSerial,http://www.my.url,type')).values, { url: 'http://www.my.url', configType: 'type' });
  });

  it('describes answers without a target', () => {
    assert.deepEqual(describeRecord(line('124,12345')), { messageId: 124, fields: ['12345'], name: 'Get the device managed object ID', values: { id: '12345' } });
    const v = describeRecord(line('601,2025.0.0'));
    assert.equal(v.device, undefined);
    assert.deepEqual(v.values, { version: '2025.0.0' });
  });

  it('keeps the s/e free text whole', () => {
    const e40 = describeRecord(line('40,999,No static template for this message id'));
    assert.equal(e40.name, 'Template not found');
    assert.deepEqual(e40.values, { relatedId: '999', text: 'No static template for this message id' });
    assert.deepEqual(describeRecord(line('41,100,Device already existing')).values, { relatedId: '100', text: 'Device already existing' });
    assert.deepEqual(describeRecord(line('41,,MqttAuth: Cannot publish token for device that do not use certificate authentication')).values, {
      text: 'MqttAuth: Cannot publish token for device that do not use certificate authentication',
    });
    const e50 = describeRecord(line('50,100,Error on device creation, message: Error on identity creation'));
    assert.deepEqual(e50.values, { relatedId: '100', text: 'Error on device creation, message: Error on identity creation' });
    assert.deepEqual(e50.fields, ['100', 'Error on device creation', ' message: Error on identity creation']);
    assert.deepEqual(describeRecord(line('41,100,a,,b,')).values, { relatedId: '100', text: 'a,,b,' });
    assert.deepEqual(describeRecord(['41', 'myXid']).values, { relatedId: 'myXid' });
  });

  it('describes credentials and s/dt lines', () => {
    assert.deepEqual(describeRecord(['70', 't12345', 'device_abc', 'p,a"ss']).values, { tenant: 't12345', username: 'device_abc', password: 'p,a"ss' });
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.sig';
    const t = describeRecord(['71', token]);
    assert.equal(t.name, 'Device access token');
    assert.deepEqual(t.values, { token });
    assert.deepEqual(describeRecord(line('20,myXid,12345')).values, { xid: 'myXid', collectionId: '12345' });
    assert.deepEqual(recordToFields({ messageId: 70, values: { tenant: 't1', username: 'u', password: 'p' } }), ['70', 't1', 'u', 'p']);
    throwsRecordError(() => recordToFields({ messageId: 70, values: { tenant: 't1', username: 'u' } }), { field: 'password' });
  });

  it('ignores trailing empty fields when splitting repetitions', () => {
    assert.deepEqual(describeRecord(line('116,a,1,u,,')).values, { software: [{ name: 'a', version: '1', url: 'u' }] });
  });

  describe('strict mode', () => {
    it('refuses missing mandatory fields', () => {
      throwsRecordError(() => describeRecord(line('200,c8y_T,,1'), { strict: true, index: 5 }), { record: 5, template: T200, field: 'series', text: /mandatory/ });
      throwsRecordError(() => describeRecord(['102', 'a', 'b'], { strict: true }), { field: 'serviceName' });
      throwsRecordError(() => describeRecord(['510'], { strict: true }), { field: 'device' });
      throwsRecordError(() => describeRecord(line('201,T,,f,s,1,,g,,2'), { strict: true }), { field: 'measurements[1].series' });
      throwsRecordError(() => describeRecord(['201', 'T'], { strict: true }), { field: 'measurements', text: /at least 1/ });
    });

    it('refuses non-numeric numbers', () => {
      throwsRecordError(() => describeRecord(line('200,f,s,abc'), { strict: true }), { template: T200, field: 'value', text: /finite number, got "abc"/ });
      throwsRecordError(() => describeRecord(line('117,1.5'), { strict: true }), { field: 'interval', text: /integer/ });
      throwsRecordError(() => describeRecord(line('201,T,,f,s,1,,g,t,x'), { strict: true }), { field: 'measurements[1].value' });
      throwsRecordError(() => describeRecord(line('210,-90,1e999'), { strict: true }), { field: 'ber' });
    });

    it('accepts valid input and leaves unknown IDs alone', () => {
      assert.deepEqual(describeRecord(line('200,f,s,-1.5e3,C'), { strict: true }).values, { fragment: 'f', series: 's', value: -1500, unit: 'C' });
      assert.deepEqual(describeRecord(line('100'), { strict: true }).values, {});
      assert.deepEqual(describeRecord(['999', 'x'], { strict: true }), { messageId: 999, fields: ['x'] });
    });
  });
});

describe('custom templates via lookup', () => {
  const custom: TemplateSpec = {
    id: 9001,
    name: 'My temperature',
    direction: 'up',
    category: 'measurement',
    fields: [
      { name: 'temp', kind: 'number', mandatory: true },
      { name: 'label', kind: 'string' },
    ],
  };
  const shadow: TemplateSpec = { id: 200, name: 'Custom 200', direction: 'up', category: 'measurement', fields: [{ name: 'x', kind: 'string' }] };
  const lookup: TemplateLookup = (id) => (id === 'myTemp' ? custom : id === '200' ? shadow : undefined);

  it('encodes and decodes with a custom template', () => {
    assert.deepEqual(recordToFields({ messageId: 'myTemp', values: { temp: 21.5, label: 'x' } }, { lookup }), ['myTemp', '21.5', 'x']);
    assert.deepEqual(recordToFields(['myTemp', 21.5], { lookup }), ['myTemp', '21.5']);
    throwsRecordError(() => recordToFields({ messageId: 'myTemp', values: { temp: 'hot' } }, { lookup, index: 1 }), {
      record: 1,
      template: '9001 (My temperature)',
      field: 'temp',
    });
    const d = describeRecord(['myTemp', '21.5'], { lookup });
    assert.deepEqual(d, { messageId: 'myTemp', fields: ['21.5'], name: 'My temperature', values: { temp: 21.5 } });
  });

  it('tries the lookup first only when the named record has an xid', () => {
    assert.deepEqual(recordToFields({ messageId: 200, values: { x: 'y' }, xid: 'myXid' }, { lookup }), ['200', 'y']);
    throwsRecordError(() => recordToFields({ messageId: 200, values: { x: 'y' } }, { lookup }), { template: T200, field: 'x' });
    assert.equal(describeRecord(['200', 'a', 'b', '1'], { lookup }).name, 'Create custom measurement');
    assert.equal(describeRecord(['200', 'a'], { lookup, preferLookup: true }).name, 'Custom 200');
  });
});
