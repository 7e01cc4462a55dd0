import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import type { Container, ContainerModule } from 'inversify';
import type { Logger } from 'winston';
import { InvalidArgumentError, InvalidStateError, PluginError, TasklaneError } from '../api/errors';
import type { TaskClass } from '../api/task-definition';
import { getTaskOptions } from '../api/task-metadata';
import { defaultLogger } from '../core/default-logger';
import { DefinitionRegistry } from '../core/definitions/definition-registry';
import { registerTasks } from '../composition/tasklane-module';
import { TOKENS } from '../ports/tokens';
import { errorMessage, safeGet, safeString } from '../util/safe-string';
import { PLUGIN_NAME_PATTERN, type TasklanePlugin } from './plugin';

/** A plugin that was loaded: its module is in the container and its tasks are registered. */
export interface LoadedPlugin {
  name: string;
  /** absolute path of the plugin's folder */
  folder: string;
  /** ids of the task definitions it registered */
  tasks: string[];
  /** definitions registered in the `fault` state (a broken configuration): they run nothing */
  faults: Array<{ id: string; message: string }>;
}

/** A plugin that was not loaded. Nothing of it stays registered. */
export interface FailedPlugin {
  /** absolute path of the plugin's folder */
  folder: string;
  /** the plugin's name, when it got as far as declaring a valid one */
  name?: string;
  /** always a PluginError (code PLUGIN_INVALID); the original error is its `cause` */
  error: PluginError;
}

export interface PluginLoadReport {
  loaded: LoadedPlugin[];
  failed: FailedPlugin[];
  /** folders left out by `only` (absolute paths) */
  skipped: string[];
}

export interface LoadPluginsOptions {
  /** where success and failures are logged (default: the container's TOKENS.Logger) */
  logger?: Logger;
  /**
   * load only these plugins, matched by folder name or by plugin name. Folders it does not name are
   * not imported, unless a name matches no folder (then they are imported to read their plugin's
   * name); unselected folders are listed in `skipped`, never in `failed`.
   */
  only?: string[];
}

/** What one container has loaded so far, so that a second loadPlugins() call sees the first. */
interface ContainerPlugins {
  /** plugin name -> folder */
  names: Map<string, string>;
  /** task ids claimed by a plugin being loaded right now */
  reservedIds: Set<string>;
}

const perContainer = new WeakMap<Container, ContainerPlugins>();

/** The entry modules tried in a plugin folder when it has no package.json "main". */
function entryCandidates(): string[] {
  // running from TypeScript sources (ts-node, ts-jest): prefer the .ts entry; from dist/: the .js one
  return __filename.endsWith('.ts') ? ['index.ts', 'index.js', 'index.cjs'] : ['index.js', 'index.cjs', 'index.ts'];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** the entry module of a plugin folder: package.json "main" (kept inside the folder), else index.* */
export function resolvePluginEntry(dir: string): string {
  const pkgPath = join(dir, 'package.json');
  if (isFile(pkgPath)) {
    let pkg: unknown;
    try {
      pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    } catch (err) {
      throw new PluginError(`package.json of the plugin in "${dir}" is not valid JSON`, err);
    }
    const main = typeof pkg === 'object' && pkg !== null && !Array.isArray(pkg) ? (pkg as { main?: unknown }).main : undefined;
    if (main !== undefined) {
      if (typeof main !== 'string' || main.trim() === '') throw new PluginError(`package.json "main" of the plugin in "${dir}" must be a non-empty string`);
      const target = resolve(dir, main);
      if (!inside(dir, target)) throw new PluginError(`package.json "main" of the plugin in "${dir}" points outside its folder`);
      const tries = [target, `${target}.js`, `${target}.ts`, ...entryCandidates().map((c) => join(target, c))];
      const found = tries.find((p) => inside(dir, p) && isFile(p));
      if (!found) throw new PluginError(`package.json "main" of the plugin in "${dir}" names "${main.slice(0, 200)}", which does not exist`);
      return found;
    }
  }
  for (const candidate of entryCandidates()) {
    const path = join(dir, candidate);
    if (isFile(path)) return path;
  }
  throw new PluginError(`no entry module in "${dir}": expected index.ts, index.js or a package.json "main"`);
}

function own(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function isContainerModule(value: unknown): value is ContainerModule {
  // duck-typed: a plugin may bring its own copy of inversify, whose class is not ours
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { load?: unknown }).load === 'function' &&
    typeof (value as { id?: unknown }).id === 'number'
  );
}

/** the plugin object an entry module exports (default export, else named `plugin`), shape-checked */
export function pluginFromModule(exported: unknown, where: string): TasklanePlugin {
  if ((typeof exported !== 'object' && typeof exported !== 'function') || exported === null) {
    throw new PluginError(`the entry module of ${where} exports nothing usable: expected a default export or a named export "plugin"`);
  }
  let candidate: unknown;
  if (own(exported, 'default') && (exported as { default?: unknown }).default !== undefined) candidate = (exported as { default: unknown }).default;
  else if (own(exported, 'plugin')) candidate = (exported as { plugin: unknown }).plugin;
  else throw new PluginError(`the entry module of ${where} has neither a default export nor a named export "plugin"`);
  return checkPluginShape(candidate, where);
}

/** checks `{ name, module?, tasks }` and returns a detached copy */
export function checkPluginShape(value: unknown, where: string): TasklanePlugin {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PluginError(`${where} does not export a plugin object { name, module?, tasks }`);
  }
  const { name, module, tasks } = value as { name?: unknown; module?: unknown; tasks?: unknown };
  if (typeof name !== 'string') throw new PluginError(`${where}: the plugin's name must be a string`);
  if (!PLUGIN_NAME_PATTERN.test(name)) {
    throw new PluginError(`${where}: invalid plugin name "${name.slice(0, 80)}": it must match ${PLUGIN_NAME_PATTERN.source}`);
  }
  if (module !== undefined && !isContainerModule(module)) {
    throw new PluginError(`plugin "${name}" (${where}): "module" must be an Inversify ContainerModule`);
  }
  if (!Array.isArray(tasks)) throw new PluginError(`plugin "${name}" (${where}): "tasks" must be an array of task classes`);
  if (tasks.length > 10_000) throw new PluginError(`plugin "${name}" (${where}): too many tasks`);
  const ids = new Set<string>();
  const classes = new Set<unknown>();
  tasks.forEach((cls: unknown, i: number) => {
    if (typeof cls !== 'function') throw new PluginError(`plugin "${name}" (${where}): tasks[${i}] is not a class`);
    const options = getTaskOptions(cls);
    if (!options || typeof options !== 'object') {
      throw new PluginError(
        `plugin "${name}" (${where}): tasks[${i}] (${safeString(cls, 128)}) is not a task: decorate it with @Task({...}) or use TaskDefinition.createImplementation()`,
      );
    }
    const id = safeString(safeGet(options, 'id'), 200);
    if (ids.has(id) || classes.has(cls)) throw new PluginError(`plugin "${name}" (${where}): duplicate task id "${id.slice(0, 128)}" in its tasks`);
    ids.add(id);
    classes.add(cls);
  });
  return { name, ...(module !== undefined ? { module: module as ContainerModule } : {}), tasks: [...(tasks as TaskClass[])] };
}

function taskId(cls: TaskClass): string {
  return safeString(safeGet(getTaskOptions(cls), 'id'), 200);
}

/**
 * Discovers and loads the plugins in `folder`: every sub-folder with an entry module (package.json
 * "main", else index.ts / index.js) exporting `{ name, module?, tasks }` as its default export or as
 * `plugin`. For each plugin, in folder-name order: the module is loaded into the container, then its
 * tasks are registered (they may inject what the module bound).
 *
 * One broken plugin never brings the host down: a plugin that throws on import, exports a bad shape,
 * has an invalid or duplicate name, or declares a task id that is already registered is left out,
 * reported in `failed` and logged through the container's TOKENS.Logger; the others still load.
 * Load tasklane({...}) into the container first. Only a missing or unreadable `folder` throws.
 */
export async function loadPlugins(container: Container, folder: string, options: LoadPluginsOptions = {}): Promise<PluginLoadReport> {
  if (typeof folder !== 'string' || folder === '') throw new InvalidArgumentError('loadPlugins(): folder must be a path');
  if (!container || typeof (container as { isBound?: unknown }).isBound !== 'function')
    throw new InvalidArgumentError('loadPlugins(): the first argument must be an Inversify container');
  if (!container.isBound(DefinitionRegistry)) throw new InvalidStateError('loadPlugins(): load tasklane({...}) into the container first');
  const only = options?.only;
  if (only !== undefined && (!Array.isArray(only) || only.some((o) => typeof o !== 'string'))) {
    throw new InvalidArgumentError('loadPlugins(): only must be an array of plugin names');
  }
  const selected = only ? new Set(only) : undefined;
  const logger: Logger = options?.logger ?? (container.isBound(TOKENS.Logger) ? container.get<Logger>(TOKENS.Logger) : defaultLogger());
  const registry = container.get(DefinitionRegistry);

  const root = resolve(folder);
  if (!isDirectory(root)) throw new PluginError(`loadPlugins(): "${root}" is not a folder`);
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch (err) {
    throw new PluginError(`loadPlugins(): cannot read "${root}": ${errorMessage(err)}`, err);
  }

  const needsImport = selected !== undefined && [...selected].some((name) => !entries.includes(name));

  let state = perContainer.get(container);
  if (!state) perContainer.set(container, (state = { names: new Map(), reservedIds: new Set() }));

  const report: PluginLoadReport = { loaded: [], failed: [], skipped: [] };
  for (const entry of entries) {
    if (entry.startsWith('.') || entry === 'node_modules') continue;
    const dir = join(root, entry);
    if (!isDirectory(dir)) continue;
    const where = `the plugin folder "${entry}"`;
    // a folder that `only` does not name is imported only to learn its plugin's name, and only when
    // some name in `only` matched no folder
    if (selected && !selected.has(entry) && !needsImport) {
      report.skipped.push(dir);
      continue;
    }

    let plugin: TasklanePlugin;
    try {
      const file = resolvePluginEntry(dir);
      let exported: unknown;
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        exported = require(file) as unknown;
      } catch (err) {
        throw new PluginError(`${where} failed to import: ${errorMessage(err)}`, err);
      }
      plugin = pluginFromModule(exported, where);
    } catch (err) {
      if (selected && !selected.has(entry)) {
        report.skipped.push(dir);
        continue;
      }
      fail(report, logger, dir, undefined, err);
      continue;
    }
    if (selected && !selected.has(entry) && !selected.has(plugin.name)) {
      report.skipped.push(dir);
      continue;
    }

    const name = plugin.name;
    const ids = plugin.tasks.map(taskId);
    try {
      const holder = state.names.get(name);
      if (holder !== undefined) throw new PluginError(`${where}: a plugin named "${name}" is already loaded or being loaded (from "${holder}")`);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (registry.get(id) !== undefined || state.reservedIds.has(id)) {
          throw new PluginError(`plugin "${name}" (${where}): duplicate task id "${id.slice(0, 128)}": a task with this id is already registered`);
        }
        if (registry.getByClass(plugin.tasks[i]) !== undefined) {
          throw new PluginError(`plugin "${name}" (${where}): its task class ${safeString(plugin.tasks[i], 128)} is already registered`);
        }
      }
    } catch (err) {
      fail(report, logger, dir, name, err);
      continue;
    }

    // reserved before the first await: a concurrent loadPlugins() on this container sees them
    state.names.set(name, dir);
    for (const id of ids) state.reservedIds.add(id);
    try {
      if (plugin.module) {
        try {
          await container.load(plugin.module);
        } catch (err) {
          await container.unload(plugin.module).catch(() => undefined);
          throw new PluginError(`plugin "${name}" (${where}): its ContainerModule failed to load: ${errorMessage(err)}`, err);
        }
      }
      let defs: ReturnType<typeof registerTasks>;
      try {
        defs = registerTasks(container, plugin.tasks);
      } catch (err) {
        if (plugin.module) await container.unload(plugin.module).catch(() => undefined);
        throw new PluginError(`plugin "${name}" (${where}): its tasks could not be registered: ${errorMessage(err)}`, err);
      }
      const loaded: LoadedPlugin = {
        name,
        folder: dir,
        tasks: defs.map((d) => d.id),
        faults: defs.filter((d) => d.fault).map((d) => ({ id: d.id, message: d.fault!.message })),
      };
      report.loaded.push(loaded);
      safeLog(logger, 'info', `tasklane: plugin "${name}" loaded from ${dir} with ${loaded.tasks.length} task(s): ${loaded.tasks.join(', ')}`, {
        plugin: name,
        folder: dir,
        tasks: loaded.tasks,
      });
      for (const f of loaded.faults)
        safeLog(logger, 'warn', `tasklane: plugin "${name}": task "${f.id}" is in the fault state: ${f.message}`, { plugin: name, definitionId: f.id });
    } catch (err) {
      state.names.delete(name);
      fail(report, logger, dir, name, err);
    } finally {
      for (const id of ids) state.reservedIds.delete(id);
    }
  }
  return report;
}

function fail(report: PluginLoadReport, logger: Logger, folder: string, name: string | undefined, err: unknown): void {
  const error = err instanceof PluginError ? err : new PluginError(`the plugin in "${folder}" failed: ${errorMessage(err)}`, err);
  report.failed.push({ folder, ...(name !== undefined ? { name } : {}), error });
  const cause = (error as { cause?: unknown }).cause;
  safeLog(logger, 'error', `tasklane: plugin ${name ? `"${name}" ` : ''}in ${folder} was not loaded: ${error.message}`, {
    folder: basename(folder),
    ...(name !== undefined ? { plugin: name } : {}),
    code: error.code,
    ...(cause !== undefined ? { cause: TasklaneError.is(cause) ? cause.code : errorMessage(cause) } : {}),
  });
}

function safeLog(logger: Logger, level: 'info' | 'warn' | 'error', message: string, meta: Record<string, unknown>): void {
  try {
    logger.log(level, message, meta);
  } catch {
    // a logger that throws must not turn one broken plugin into a broken host
  }
}
