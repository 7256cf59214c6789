/**
 * Message ids for nodes that emit at high rates. Node-RED gives every message without `_msgid` a fresh id made of
 * eight `Math.random()` calls; at tens of thousands of messages per second that shows in profiles. These ids have
 * the same shape (16 hex digits): a random 8-digit prefix per process and an 8-digit counter; when the counter
 * wraps, a new prefix is drawn.
 */
import { randomBytes } from 'node:crypto';

let prefix = randomBytes(4).toString('hex');
let counter = 0;

export function nextMessageId(): string {
  if (counter === 0x100000000) {
    prefix = randomBytes(4).toString('hex');
    counter = 0;
  }
  return prefix + (counter++).toString(16).padStart(8, '0');
}
