/**
 * The Datacake-like broker of the tests: the project's stand-in (src/standin/datacake-broker.ts, also behind the
 * `npm start` demo) with a fixed test token, on a free loopback port unless one is given.
 */
import { startDatacakeStandin, type DatacakeStandin } from '../../src/standin/datacake-broker';

export const TOKEN = 'a'.repeat(20) + 'b'.repeat(20);

export type DatacakeBrokerFixture = DatacakeStandin;

export function startDatacakeBroker(options: { port?: number; pythonBooleans?: boolean; token?: string; connackDelayMs?: number } = {}): Promise<DatacakeBrokerFixture> {
  return startDatacakeStandin({ port: options.port, pythonBooleans: options.pythonBooleans, token: options.token ?? TOKEN, connackDelayMs: options.connackDelayMs });
}
