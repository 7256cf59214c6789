/** Device tokens of `s/uat` (src/endpoint/token.ts): signature, expiry, and hostile input. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { issueDeviceToken, TokenError, verifyDeviceToken } from '../../src/endpoint/token';

describe('device tokens', () => {
  const now = Date.UTC(2026, 0, 1);
  it('verifies within its lifetime and names the device and tenant', () => {
    const t = issueDeviceToken('s3cret', 'dev1', 't1', 60, now);
    assert.deepEqual(verifyDeviceToken(t, 's3cret', now + 59_000), { device: 'dev1', tenant: 't1', issuedAt: now / 1000, expiresAt: now / 1000 + 60 });
    assert.equal(verifyDeviceToken(`Bearer ${t}`, 's3cret', now).device, 'dev1');
  });
  it('refuses an expired token, a changed one, another secret, and junk', () => {
    const t = issueDeviceToken('s3cret', 'dev1', 't1', 60, now);
    assert.throws(() => verifyDeviceToken(t, 's3cret', now + 60_000), /expired/);
    assert.throws(() => verifyDeviceToken(t, 'other', now), /bad signature/);
    assert.throws(() => verifyDeviceToken(t.slice(0, -2) + 'AA', 's3cret', now), /bad signature/);
    for (const junk of ['', 'a.b', 'a.b.c', 'x'.repeat(10_000), null, {}]) assert.throws(() => verifyDeviceToken(junk, 's3cret', now), TokenError);
    assert.throws(() => verifyDeviceToken(t, '', now), /no token secret/);
  });
});
