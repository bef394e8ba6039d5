/** One POSIX shell word: safe characters as they are, everything else single-quoted. */
export function shellQuote(value: string): string {
  if (value !== '' && /^[\w@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Characters XML 1.0 cannot carry even escaped; values containing them are refused upstream. */
export const XML_INVALID_CHARS = /[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;

export function xmlEscape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}
