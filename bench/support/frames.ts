/** MQTT framing for the bench's bare socket peers (support/floor.ts, support/raw-devices.ts): no parser library. */

/**
 * Calls `packet(first byte, body start, body end)` for each whole packet in `buf` and returns the bytes left over
 * (an incomplete packet, to be prefixed to the next chunk), or undefined.
 */
export function eachPacket(buf: Buffer, packet: (header: number, body: number, end: number) => void): Buffer | undefined {
  let at = 0;
  while (at < buf.length) {
    // Remaining length: a variable byte integer after the first byte.
    let len = 0;
    let mul = 1;
    let i = at + 1;
    for (; i < buf.length; i++) {
      len += (buf[i] & 0x7f) * mul;
      mul *= 128;
      if ((buf[i] & 0x80) === 0) break;
    }
    if (i >= buf.length || i + 1 + len > buf.length) break;
    packet(buf[at], i + 1, i + 1 + len);
    at = i + 1 + len;
  }
  return at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
}
