// qsub's command line and job-script directives, read the way Torque 6.1's qsub reads them.
export { parseQsubArgs, optionWords, type ParsedQsubArgs, type QsubToken } from './options.js';
export { readScriptHeader, scanDirectives, splitWords, quoteWord, type Directive, type ScriptHeader } from './directives.js';
export { parseResourceList, mergeResourceLists, type ResourceList } from './resource-list.js';
export { torqueSize, torqueSizeMiB } from './size.js';
