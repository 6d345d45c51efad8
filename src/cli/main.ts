/**
 * The `mailbox` command. Subcommands live one per file in src/cli; this file only routes.
 */
import { MailboxError } from '../errors.ts';
import { UsageError } from './args.ts';
import { UnreachableError } from './common.ts';

const USAGE = `usage: mailbox <command> [options]

  serve      run the mailbox (WebSocket + admin port)       mailbox serve --config ./mailbox.config.ts
  tree       print the supervisor state dump                mailbox tree [--admin http://127.0.0.1:9600] [--watch]
  tail       follow the runtime's bus events                mailbox tail [--admin URL]
  ready      wait until /readyz answers 200                 mailbox ready --wait 30s [--admin URL]
  drain      drain a running server (as SIGTERM)            mailbox drain [--admin URL] [--token-file F]
  dlq        list | reprocess | purge dead letters          mailbox dlq list [--topic T] [--url ws://…] [--token-file F]
  token      mint | attenuate | inspect | revoke tokens     mailbox token mint --op send,recv --topic 'user:42:*'
  keys       rotate | list the server's signing keys        mailbox keys rotate --grace 14d
  policy     check | show | reload the quota policy         mailbox policy check policy.json
  backup     hot snapshot of a running LevelDB store        mailbox backup --out NAME
  restore    put a snapshot back (service stopped)          mailbox restore --from DIR [--data-dir D]
  chaos      run the chaos drills                           mailbox chaos [drill …]
  bench      benchmarks against a real server (and peers)   mailbox bench [--peers] [--figures durable]

\`mailbox <command> --help\` prints a command's options. Wrong usage exits 2, a failure 1.
`;

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.ts')).serve,
  tree: async () => (await import('./tree.ts')).tree,
  tail: async () => (await import('./tail.ts')).tail,
  ready: async () => (await import('./ready.ts')).ready,
  drain: async () => (await import('./drain.ts')).drain,
  token: async () => (await import('./token.ts')).token,
  keys: async () => (await import('./keys.ts')).keys,
  policy: async () => (await import('./policy.ts')).policy,
  backup: async () => (await import('./backup.ts')).backup,
  restore: async () => (await import('./backup.ts')).restore,
  dlq: async () => (await import('./dlq.ts')).dlq,
  chaos: async () => (await import('./chaos.ts')).chaos,
  bench: async () => (await import('./bench.ts')).bench,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    process.stderr.write(`mailbox: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  await (await load())(rest);
}

const argv = process.argv.slice(2);
main(argv).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`mailbox ${err.command}: ${err.message}\n${err.usage}\n`);
    process.exit(2);
  }
  const message =
    err instanceof UnreachableError ? err.message : err instanceof MailboxError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  const name = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? ` ${argv[0]}` : '';
  process.stderr.write(`mailbox${name}: ${message}\n`);
  process.exit(1);
});
