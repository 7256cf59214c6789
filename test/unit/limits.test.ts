import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../src/smartrest/codec';
import { MAX_PUBLISH_BYTES, maxPayloadBytes, packRecords, SmartRestSizeError, truncateToFit } from '../../src/smartrest/limits';

/** Size of the whole PUBLISH packet as MQTT 3.1.1 frames it. */
function publishSize(topic: string, payload: string, qos: number): number {
  const rem = 2 + Buffer.byteLength(topic) + (qos ? 2 : 0) + Buffer.byteLength(payload);
  return 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : 3) + rem;
}

describe('limits: payload budget', () => {
  it('leaves exactly the room of header, topic and packet id', () => {
    for (const topic of ['s/us', 's/us/a-rather-long-child-device-id', 's/uc/é-templates']) {
      for (const qos of [0, 1]) {
        const p = maxPayloadBytes(topic, qos);
        assert.equal(publishSize(topic, 'x'.repeat(p), qos), MAX_PUBLISH_BYTES);
        assert.ok(publishSize(topic, 'x'.repeat(p + 1), qos) > MAX_PUBLISH_BYTES);
      }
    }
  });
});

describe('limits: packing', () => {
  const rec = (n: number) => ['400', 'c8y_Event', 'x'.repeat(n)];
  it('packs records in order into as few payloads as fit', () => {
    const records = Array.from({ length: 10 }, () => rec(3000));
    const packed = packRecords(records, { maxBytes: 16000 });
    // Each line is 3014 bytes (+1 LF between): 5 fit in 16000.
    assert.deepEqual(packed.map((p) => p.records), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
    for (const p of packed) assert.ok(Buffer.byteLength(p.payload) <= 16000);
    assert.deepEqual(packed.flatMap((p) => parse(p.payload)), records);
  });
  it('measures UTF-8 bytes after escaping', () => {
    const line = ['400', 'c8y_Event', '"é"'.repeat(100)]; // each "é" → \"é\" = 6 bytes after escaping
    const size = Buffer.byteLength('400,c8y_Event,"' + '\\"é\\"'.repeat(100) + '"');
    assert.equal(packRecords([line], { maxBytes: size }).length, 1);
    assert.throws(() => packRecords([line], { maxBytes: size - 1 }), SmartRestSizeError);
  });
  it('refuses a record that cannot fit alone, naming it', () => {
    assert.throws(() => packRecords([rec(10), rec(20000)], { maxBytes: 16000 }), /record 2 is 20014 bytes after escaping, more than the 16000 bytes/);
  });
  it('shortens the free-text field of an oversized record when asked, keeping quotes and UTF-8 intact', () => {
    const text = 'ab"c'.repeat(3000) + '😀é'.repeat(2000);
    const record = ['400', 'c8y_Event', text, '2026-11-22T10:00:00Z'];
    for (const quote of ['backslash', 'double'] as const) {
      const packed = packRecords([record], { maxBytes: 16000, quote, textField: () => 2 });
      assert.deepEqual(packed[0].truncated, [0]);
      const bytes = Buffer.byteLength(packed[0].payload);
      assert.ok(bytes <= 16000 && bytes > 15990, `fills the budget (${bytes})`);
      const [decoded] = parse(packed[0].payload, { quote });
      assert.equal(decoded.length, 4);
      assert.equal(decoded[3], '2026-11-22T10:00:00Z');
      assert.ok(text.startsWith(decoded[2]) && decoded[2].length > 1000, 'a prefix of the text');
      assert.ok(!decoded[2].includes('\ufffd'));
    }
  });
  it('never ends a shortened backslash-quoted value in a backslash', () => {
    const text = 'a,\\'.repeat(9000);
    const line = truncateToFit(['502', 'c8y_Command', text], 2, 1000, 'backslash');
    assert.ok(Buffer.byteLength(line) <= 1000);
    const [decoded] = parse(line);
    assert.ok(text.startsWith(decoded[2]) && !decoded[2].endsWith('\\'));
  });
  it('refuses when even an empty text does not fit', () => {
    assert.throws(() => truncateToFit(['400', 'x'.repeat(100), 'text'], 2, 50, undefined), /even with its free text removed/);
  });
});
