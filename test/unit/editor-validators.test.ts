/**
 * The edit dialogs' checks (src/editor/validators.ts), and the browser bundle built from them
 * (resources/device-protocols-editor.js): what the editor refuses is what the runtime's own grammar refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { FORMATS, RANGES, checkDatacakeApiUrl, checkDatacakeField, checkEndpointDevice, checkNumber, checkRules, checkTables, numberIn, oneOf, validator } from '../../src/editor/validators';
import { normalizeField } from '../../src/datacake/topics';
import { compileRules } from '../../src/bridge/rules';
import { checkDeviceId } from '../../src/endpoint/clientid';

describe('editor validators', () => {
  it('numbers: ranges, whole numbers, blank only where allowed, with a message', () => {
    assert.equal(checkNumber('8883', RANGES.port), undefined);
    for (const bad of ['99999', '70000', '-5', '0', '1.5', 'abc', '']) assert.match(checkNumber(bad, RANGES.port) ?? '', /whole number from 1 to 65535|required/, bad);
    assert.equal(checkNumber('', RANGES.portOrBlank), undefined);
    assert.equal(checkNumber(0, RANGES.keepalive), undefined, 'MQTT keepalive 0 = off');
    assert.match(checkNumber(-5, RANGES.keepalive) ?? '', /from 0 to 65535/);
    assert.match(checkNumber(0, RANGES.deviceKeepalive) ?? '', /from 1/);
    assert.match(checkNumber(-3, RANGES.pollInterval) ?? '', /from 1/);
    assert.match(checkNumber(-5, RANGES.rate) ?? '', /from 0/);
    assert.match(checkNumber(-5, RANGES.outboxMessages) ?? '', /from 1/);
    assert.match(checkNumber(-1, RANGES.ttl) ?? '', /from 0/);
    assert.match(checkNumber(-5, RANGES.publishLimit) ?? '', /from 64 to 16184/);
    assert.match(checkNumber(16185, RANGES.publishLimit) ?? '', /from 64 to 16184/);
  });

  it("validators take Node-RED's (value, opt) form and name the field", () => {
    const v = numberIn(RANGES.port, 'port');
    assert.equal(v.length, 2, 'a one-parameter validator would have its message ignored by Node-RED');
    assert.equal(validator(() => undefined).length, 2);
    assert.equal(v('1883'), true);
    assert.equal(v('70000'), 'port must be a whole number from 1 to 65535');
  });

  it("device ids and filters: the endpoint's grammar", () => {
    for (const bad of ['a/b#', '+', '#', 'a/b', 'dev:1', 'x'.repeat(129)]) {
      assert.ok(checkEndpointDevice(bad), bad);
      assert.equal(checkEndpointDevice(bad), checkDeviceId(bad), `${bad}: the same message as the runtime`);
    }
    assert.equal(checkEndpointDevice(''), undefined, 'optional');
    assert.equal(checkEndpointDevice('sensor-01'), undefined);
  });

  it("bridge rules: the runtime's compiler decides, with its message", () => {
    const rule = (filter: string, target: string) => [{ filter, target }];
    assert.match(checkRules(rule('devices/#/s/us', 'x')) ?? '', /"#" must be the last level/);
    assert.match(checkRules(rule('a/+b', '{nosuch}')) ?? '', /placeholder \{nosuch\} has no capture/);
    assert.equal(checkRules(rule('site/+device/+field', 'dtck-pub/p/{device}/{field|upper}')), undefined);
    assert.match(checkRules([]) ?? '', /at least one rule/);
    // agreement with compileRules on a lookup table
    const tables = '{"ids": {"SN-1": "uuid-1"}}';
    const ok = [{ filter: 'site/+sn', target: 'x/{sn|lookup:ids}' }];
    assert.doesNotThrow(() => compileRules(ok, JSON.parse(tables)));
    assert.equal(checkRules(ok, tables), undefined);
    assert.match(checkRules([{ filter: 'site/+sn', target: 'x/{sn|lookup:nosuch}' }], tables) ?? '', /nosuch/);
    assert.match(checkTables('[1]') ?? '', /JSON object/);
    assert.match(checkTables('{"t": 5}') ?? '', /lookup table "t"/);
    assert.equal(checkTables('{}'), undefined);
  });

  it("Datacake field names: the runtime's rule, checked before upper-casing", () => {
    for (const ok of ['temp_1', 'TEMPERATURE', 'A1']) {
      assert.equal(checkDatacakeField(ok), undefined, ok);
      assert.doesNotThrow(() => normalizeField(ok));
    }
    // 'straße'.toUpperCase() is 'STRASSE', another valid field: refused as typed, like the runtime does
    for (const bad of ['straße', 'ﬁeld', 'a-b', 'a b', '+', '*']) {
      assert.match(checkDatacakeField(bad) ?? '', /ASCII letters, digits and _/, bad);
      assert.throws(() => normalizeField(bad), /Datacake field identifier|missing/, bad);
    }
    assert.equal(checkDatacakeField(''), undefined, 'empty: from msg or an object of fields');
    assert.equal(checkDatacakeField('+', true), undefined, 'the in-node subscribes to every field');
    assert.equal(checkDatacakeField('*', true), undefined);
    assert.match(checkDatacakeField('straße', true) ?? '', /ASCII/);
  });

  it('Datacake API URL: https, plain http only to this machine (where the token may go)', () => {
    for (const ok of ['', 'https://api.datacake.co/graphql/', 'http://127.0.0.1:8080/graphql', 'http://localhost/x', 'http://[::1]:9/']) {
      assert.equal(checkDatacakeApiUrl(ok), undefined, ok);
    }
    for (const bad of ['http://api.datacake.co/graphql/', 'http://127.0.0.1.evil.example/', 'ftp://localhost/', 'not a url', 'https//x']) {
      assert.match(checkDatacakeApiUrl(bad) ?? '', /https:\/\/|not a URL/, bad);
    }
  });

  it('format selects: smartrest or json; unset is the default', () => {
    const v = oneOf(FORMATS, 'format');
    assert.equal(v.length, 2, '(value, opt) form');
    assert.equal(v('smartrest'), true);
    assert.equal(v('json'), true);
    assert.equal(v(undefined), true);
    assert.equal(v('xml'), 'format must be one of smartrest, json');
  });

  it('the browser bundle (built) exposes the same checks, with no Node.js left in it', () => {
    const file = path.join(__dirname, '..', '..', 'resources', 'device-protocols-editor.js');
    const code = fs.readFileSync(file, 'utf8');
    assert.doesNotMatch(code, /require\(["'](node:|[a-z])/, 'a require of a Node.js or npm module reached the bundle');
    const window: Record<string, any> = {};
    vm.runInNewContext(code, { window, globalThis: window, TextEncoder, URL });
    const D = window.DeviceProtocolsEditor;
    assert.ok(D, 'window.DeviceProtocolsEditor');
    assert.equal(D.checkRules([{ filter: 'devices/#/s/us', target: 'x' }]), checkRules([{ filter: 'devices/#/s/us', target: 'x' }]));
    assert.equal(D.checkEndpointDevice('é'.repeat(65)), checkEndpointDevice('é'.repeat(65)), 'byte length through TextEncoder');
    assert.equal(D.numberIn(D.RANGES.port, 'port')('0'), 'port must be a whole number from 1 to 65535');
    assert.equal(D.checkDatacakeField('straße'), checkDatacakeField('straße'));
    assert.equal(D.checkDatacakeApiUrl('http://example.com/'), checkDatacakeApiUrl('http://example.com/'));
    assert.equal(D.oneOf(D.FORMATS, 'format')('xml'), 'format must be one of smartrest, json');
  });
});
