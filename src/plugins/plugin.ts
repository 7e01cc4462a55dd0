import type { ContainerModule } from 'inversify';
import type { TaskClass } from '../api/task-definition';

/**
 * What a plugin's entry module exports (as its default export, or as a named export `plugin`):
 * a name, an optional Inversify `ContainerModule` binding the plugin's services, and its task
 * classes (`@Task` classes or `TaskDefinition.createImplementation(...)` results).
 *
 * `loadPlugins()` loads the module into the host's container first, then registers the tasks, so
 * the tasks may inject what the module binds (and anything the host bound, e.g. `TOKENS.Storage`).
 */
export interface TasklanePlugin {
  /** unique among the loaded plugins, /^[a-z0-9][a-z0-9._-]{0,63}$/ */
  name: string;
  module?: ContainerModule;
  tasks: TaskClass[];
}

/** An identity helper that gives a plugin object its type (and checks it at compile time). */
export function definePlugin<P extends TasklanePlugin>(plugin: P): P {
  return plugin;
}

export const PLUGIN_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
