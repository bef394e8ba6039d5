// qsub's command line and job-script directives, read the way Torque 6.1's qsub reads them.
export { parseQsubArgs, optionWords, type ParsedQsubArgs, type QsubToken } from './options.js';
export { scanDirectives, splitWords, quoteWord, type Directive } from './directives.js';
export { parseResourceList, mergeResourceLists, type ResourceList } from './resource-list.js';
