/**
 * Loads the configuration once, at the edge: defaults < file < environment < flags, then
 * validation (resolveConfig). The file is a TS/JS module whose default export is the
 * `defineConfig({...})` object (a `.ts` file too, see importModule), or a `.json` file.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { isBuiltin } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MailboxError } from '../errors.ts';
import type { DeepPartial, MailboxConfig } from './config.ts';
import { configFileFromEnv, configFromEnv, type Env } from './env.ts';
import { resolveConfig } from './resolve.ts';

export interface LoadConfigOptions {
  /** Path of the config module; default: `RON_CONFIG` from `env`, else no file (mailbox.config.ts is not read implicitly). */
  file?: string;
  env: Env;
  /** Command-line flags, already shaped like the config. */
  flags?: DeepPartial<MailboxConfig>;
  /** Base for a relative file path; default process.cwd(). */
  cwd?: string;
}

/**
 * A TypeScript config module loads as it is where tsx is active (the sources, tests); the
 * built CLI (dist/) runs on plain Node, so it compiles the file itself (importTypeScript).
 */
async function importModule(url: string): Promise<unknown> {
  try {
    return await import(url);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    return importTypeScript(url);
  }
}

/**
 * A config that imports only relative files and Node builtins (mailbox.config.ts) is bundled
 * by esbuild in memory and imported from a data: URL: about 0.1 s, nothing written to disk.
 * One that imports packages, or reads import.meta (which a data: URL would change), goes
 * through tsx's scoped `tsImport` (about 0.3 s), which resolves and locates as Node does.
 */
async function importTypeScript(url: string): Promise<unknown> {
  const { build, stop } = await import('esbuild');
  try {
    const out = await build({
      entryPoints: [fileURLToPath(url)], bundle: true, write: false, metafile: true,
      format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'silent',
    });
    const imports = Object.values(out.metafile.outputs).flatMap((o) => o.imports);
    const code = out.outputFiles[0]?.text;
    if (code !== undefined && !code.includes('import.meta') && imports.every((i) => i.path.startsWith('node:') || isBuiltin(i.path))) {
      return await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
    }
  } finally {
    await stop();
  }
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(url, import.meta.url);
}

/** Imports a config module (or reads a .json file) and returns its default export. */
export async function loadConfigFile(file: string, cwd: string = process.cwd()): Promise<DeepPartial<MailboxConfig>> {
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  let value: unknown;
  try {
    if (path.endsWith('.json')) {
      value = JSON.parse(await readFile(path, 'utf8'));
    } else {
      const mod = (await importModule(pathToFileURL(path).href)) as { default?: unknown };
      value = mod.default;
    }
  } catch (err) {
    throw new MailboxError('E_CONFIG', `cannot load configuration file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MailboxError('E_CONFIG', `configuration file ${path} must \`export default defineConfig({...})\``);
  }
  return value as DeepPartial<MailboxConfig>;
}

/** The validated configuration: flags > environment > file > defaults. Fails with E_CONFIG. */
export async function loadConfig(options: LoadConfigOptions): Promise<MailboxConfig> {
  const envLayer = configFromEnv(options.env);
  const file = options.file ?? configFileFromEnv(options.env);
  const fileLayer = file === undefined ? undefined : await loadConfigFile(file, options.cwd);
  return resolveConfig(fileLayer, envLayer, options.flags);
}
