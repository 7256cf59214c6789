/**
 * Public library entry: `require('node-red-contrib-device-protocols/smartrest')`.
 * Pure functions, no Node-RED: usable from function nodes (via functionExternalModules) and other programs.
 */
export {
  parse,
  parseDetailed,
  parseFreeTextLines,
  serialize,
  serializeRecord,
  serializeField,
  isExpressible,
  describeIssue,
  SmartRestParseError,
  SmartRestEncodeError,
  type ParseOptions,
  type SerializeOptions,
  type ParseIssue,
  type ParseResult,
} from './codec';
export * from './catalogue';
export * from './records';
export * from './custom';
export * from './limits';
export * from './topics';
export { recordList, encodeRecords, decodePayload, type EncodeOptions, type EncodedPayload, type DecodeOptions, type DecodeResult } from './message';
export type * from './types';
