import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse, parseDetailed, parseFreeTextLines, serialize, serializeField, SmartRestEncodeError, SmartRestParseError } from '../../src/smartrest/codec';

describe('codec: decoding (reference §9.5 corner cases)', () => {
  const table: [string, string[][]][] = [
    ['100', [['100']]],
    ['100,,', [['100', '', '']]],
    ['302,c8y_TemperatureAlarm,"This is an alarm"', [['302', 'c8y_TemperatureAlarm', 'This is an alarm']]],
    ['104,"I have ""quotes""!"', [['104', 'I have "quotes"!']]],
    ['511,d,"and \\"this\\""', [['511', 'd', 'and "this"']]],
    ['113,"a=1\\nb=2"', [['113', 'a=1\\nb=2']]],
    ['511,d,"line1\nline2"', [['511', 'd', 'line1\nline2']]],
    ['101," lead"', [['101', ' lead']]],
    ['114, c8y_Restart', [['114', ' c8y_Restart']]],
    ['524,D,"something",u,t', [['524', 'D', 'something', 'u', 't']]],
    ['x,ab"cd', [['x', 'ab"cd']]],
    ['x,"ab"cd', [['x', 'abcd']]],
    ['511,d,"echo \\\\"hi\\\\""', [['511', 'd', 'echo \\"hi\\"']]],
    ['a,b\r\n', [['a', 'b']]],
    ['', []],
    ['\n\r\n\n', []],
    ['a\r\n\r\nb\n', [['a'], ['b']]],
    ['a,"x\r\ny",b', [['a', 'x\r\ny', 'b']]],
    ['a,"tab\there"', [['a', 'tab\there']]],
    ['"",""', [['', '']]],
    ['1,"a,b",2\n3,"c\nd"\n4', [['1', 'a,b', '2'], ['3', 'c\nd'], ['4']]],
    ['200,c8y_Temperature,T,21.5,C,', [['200', 'c8y_Temperature', 'T', '21.5', 'C', '']]],
    ['a,b\\,c', [['a', 'b\\', 'c']]],
    ['511,d,"a\nb"\r\n510,d', [['511', 'd', 'a\nb'], ['510', 'd']]],
    ['511,d,"x"\r', [['511', 'd', 'x']]],
  ];
  for (const [input, expected] of table) {
    it(`decodes ${JSON.stringify(input)}`, () => assert.deepEqual(parse(input), expected));
  }

  it('reports an unterminated quote with record, line, column and text, and keeps the other records', () => {
    const { records, errors } = parseDetailed('200,a,1\nx,"abc\n201,b,2');
    assert.deepEqual(records, [['200', 'a', '1'], ['201', 'b', '2']]);
    assert.equal(errors.length, 1);
    assert.deepEqual({ ...errors[0] }, { record: 2, line: 2, column: 3, field: 2, message: 'unterminated quote', text: 'x,"abc' });
  });

  it('does not let a stray quote swallow the records after it', () => {
    const { records, errors } = parseDetailed('511,d,"never closed\n510,d\n511,d,"ok"');
    assert.deepEqual(records, [['510', 'd'], ['511', 'd', 'ok']]);
    assert.deepEqual(errors.map((e) => [e.record, e.line]), [[1, 1]]);
  });

  it('treats a quoted value ending in a backslash as unterminated under tolerant rules, but not in double mode', () => {
    assert.throws(() => parse('x,"a\\"'), SmartRestParseError);
    assert.deepEqual(parse('x,"a\\"', { quote: 'double' }), [['x', 'a\\']]);
  });

  it('parse throws an error that names the record and carries the good records', () => {
    try {
      parse('1,a\n2,"b');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof SmartRestParseError);
      assert.match(err.message, /record 2 \(line 2, column 3, field 2\): unterminated quote: "2,\\"b"/);
      assert.deepEqual(err.records, [['1', 'a']]);
    }
  });

  it('keeps the free text of s/e lines unsplit', () => {
    assert.deepEqual(parseFreeTextLines('50,100,Error on device creation, message: x\r\n40,999,No static template for this message id\n41,,MqttAuth: no "token"'), [
      ['50', '100', 'Error on device creation, message: x'],
      ['40', '999', 'No static template for this message id'],
      ['41', '', 'MqttAuth: no "token"'],
    ]);
  });
});

describe('codec: encoding (reference §9.4)', () => {
  it('quotes only where needed', () => {
    assert.equal(serialize([['200', 'c8y_Temperature', 'T', '21.5', 'C']]), '200,c8y_Temperature,T,21.5,C');
    assert.equal(serializeField('a,b'), '"a,b"');
    assert.equal(serializeField(' lead'), '" lead"');
    assert.equal(serializeField('trail\t'), '"trail\t"');
    assert.equal(serializeField('a\\nb'), 'a\\nb');
    assert.equal(serializeField(''), '');
    assert.equal(serializeField('\u00a0nbsp'), '"\u00a0nbsp"');
  });
  it('escapes quotes with a backslash by default and doubles them on request', () => {
    assert.equal(serialize([['511', 'd', 'and "this"']]), '511,d,"and \\"this\\""');
    assert.equal(serialize([['511', 'd', 'and "this"']], { quote: 'double' }), '511,d,"and ""this"""');
  });
  it('keeps real line feeds inside quotes and joins records with LF only', () => {
    assert.equal(serialize([['511', 'd', 'l1\nl2'], ['510', 'd']]), '511,d,"l1\nl2"\n510,d');
  });
  it('refuses control characters other than TAB, CR and LF, naming the value', () => {
    assert.throws(() => serialize([['400', 'c8y_X', 'bell\u0007']]), (err: Error) => {
      assert.ok(err instanceof SmartRestEncodeError);
      assert.match(err.message, /record 1, field 3: cannot encode "bell\\u0007": control character U\+0007/);
      return true;
    });
    assert.throws(() => serializeField('del\u007f'), /U\+007F/);
    assert.throws(() => serializeField('c1\u0085'), /U\+0085/);
  });
  it('refuses a value that must be quoted and ends in a backslash with backslash escaping only', () => {
    assert.throws(() => serializeField('a,b\\'), /ending in a backslash/);
    assert.equal(serializeField('a,b\\', { quote: 'double' }), '"a,b\\"');
    assert.equal(serializeField('ab\\'), 'ab\\'); // unquoted: verbatim, fine
  });
  it('refuses records without a message ID', () => {
    assert.throws(() => serialize([[]]), /message ID/);
    assert.throws(() => serialize([['']]), /message ID/);
  });
  it('writes bulk texts (32+ records) exactly like record by record, and names the failing record', () => {
    const values = ['plain', 'a,b', ' lead', 'q"uote', 'l1\nl2', '', 'tab\t', '\u00a0x', 'back\\slash', '21.5'];
    const records = Array.from({ length: 40 }, (_, i) => [String(200 + (i % 12)), values[i % values.length], values[(i * 7) % values.length], String(i)]);
    for (const quote of ['backslash', 'double'] as const) {
      assert.equal(serialize(records, { quote }), records.map((r) => serialize([r], { quote })).join('\n'));
    }
    const bad = records.map((r) => r.slice());
    bad[34][2] = 'bell\u0007';
    assert.throws(() => serialize(bad), /record 35, field 3: cannot encode/);
  });
  it('refuses non-string fields', () => {
    assert.throws(() => serialize([['200', 5 as unknown as string]]), /fields must be strings, got number/);
  });
});
