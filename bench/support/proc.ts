/** CPU time (user + system) of another process, from /proc (clock ticks of 10 ms): for brokers the bench starts. */
import fs from 'node:fs';

export function procCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
