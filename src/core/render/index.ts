export { createRenderer, type Renderer } from './render.js';
export { shellQuote, xmlEscape, XML_INVALID_CHARS } from './escape.js';
