export { parseMiB, parseMiBWithin, SIZE_FORM } from './size.js';
