/** JSON state files written atomically (temporary file + rename), so a crash never leaves half a file. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** `pretty` false for large machine-written state (the inventory), true for files people read. */
export function writeJsonFileSync(file: string, data: unknown, pretty = true): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, (pretty ? JSON.stringify(data, null, 2) : JSON.stringify(data)) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}
