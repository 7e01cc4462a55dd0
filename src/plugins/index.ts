export { definePlugin, PLUGIN_NAME_PATTERN, type TasklanePlugin } from './plugin';
export {
  loadPlugins,
  resolvePluginEntry,
  checkPluginShape,
  type PluginLoadReport,
  type LoadedPlugin,
  type FailedPlugin,
  type LoadPluginsOptions,
} from './load-plugins';
