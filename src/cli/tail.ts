/** `mailbox tail [--admin URL]`: follows the runtime's bus events (readiness, shard crashes, storage). */
import { parseArgs } from './args.ts';
import { adminUrl } from './common.ts';

export async function tail(argv: string[]): Promise<void> {
  const res = await fetch(`${await adminUrl(parseArgs(argv))}/debug/events`);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const decoder = new TextDecoder();
  for await (const chunk of res.body) process.stdout.write(decoder.decode(chunk as Uint8Array, { stream: true }));
}
