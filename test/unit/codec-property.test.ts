/**
 * Round trip as a property: for any records, either parse(serialize(x)) === x, or serialize refuses with an
 * error naming the value — and refusal happens exactly for the values the style cannot express:
 * - both styles: values with a control character other than TAB, CR, LF (C0, DEL, C1);
 * - backslash style only: values that need quotes and end in a backslash.
 * With `double` (read back with `{ quote: 'double' }`) every other value round-trips.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse, serialize, SmartRestEncodeError } from '../../src/smartrest/codec';
import type { QuoteStyle } from '../../src/smartrest/types';

const RUNS = 100_000;
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;

function needsQuotes(v: string): boolean {
  return /[",\r\n\t]/.test(v) || /^\s|\s$/.test(v) || (v.length > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(v.length - 1) <= 32));
}
function inexpressible(v: string, style: QuoteStyle): boolean {
  return FORBIDDEN.test(v) || (style === 'backslash' && needsQuotes(v) && v.endsWith('\\'));
}

// Biased towards the characters that matter; any Unicode can appear (astral, lone surrogates, controls, via
// the `binary` unit), but rarely enough that most cases exercise the round trip rather than the refusal.
const tricky = fc.constantFrom('"', ',', '\\', '\r', '\n', '\r\n', '\t', ' ', '\\"', '""', '\\\\', 'a', 'é', '😀', '\u00a0', '\\n', '\u2028');
const control = fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u0085');
const part = fc.oneof(
  { weight: 60, arbitrary: tricky },
  { weight: 40, arbitrary: fc.string({ unit: "grapheme", maxLength: 4 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
  { weight: 1, arbitrary: control },
);
const value = fc.oneof(
  { weight: 8, arbitrary: fc.array(part, { maxLength: 6 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) },
);
const record = fc.tuple(value.filter((v) => v !== ''), fc.array(value, { maxLength: 6 })).map(([id, rest]) => [id, ...rest]);
const records = fc.array(record, { minLength: 1, maxLength: 4 });

for (const style of ['backslash', 'double'] as const) {
  describe(`codec round trip, quote style ${style}`, () => {
    it(`holds for ${RUNS} random record sets`, () => {
      let refused = 0;
      fc.assert(
        fc.property(records, (input) => {
          const bad = input.flat().find((v) => inexpressible(v, style));
          let text: string;
          try {
            text = serialize(input, { quote: style });
          } catch (err) {
            assert.ok(err instanceof SmartRestEncodeError, String(err));
            assert.ok(bad !== undefined, `refused an expressible record set: ${JSON.stringify(input)}: ${(err as Error).message}`);
            assert.ok(input.flat().some((v) => inexpressible(v, style) && err.value === v), 'the error names the refused value');
            refused++;
            return;
          }
          assert.equal(bad, undefined, `accepted an inexpressible value ${JSON.stringify(bad)}`);
          assert.deepEqual(parse(text, style === 'double' ? { quote: 'double' } : undefined), input);
        }),
        { numRuns: RUNS, seed: 20261122 },
      );
      assert.ok(refused > 0 && refused < RUNS / 2, `refusals should be the exception, got ${refused}`);
    });
  });
}
