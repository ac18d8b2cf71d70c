/**
 * Building POSIX sh command lines for the instance. Everything user-supplied is quoted, so shell
 * metacharacters in a test command or a result path never change what runs.
 */

/** Single-quotes a string for POSIX sh. */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Turns a glob into a sh word that still expands `*`, `?` and `[...]` on the instance but where every
 * other character is literal (spaces, `$`, `;`, backticks…). A leading `~/` stays relative to $HOME.
 */
export function globWord(pattern: string): string {
  if (pattern.length === 0) throw new Error('empty result path pattern');
  if (pattern.includes('\0'))
    throw new Error(`result path pattern contains a NUL byte: ${JSON.stringify(pattern)}`);
  let out = '';
  let rest = pattern;
  if (rest.startsWith('~/')) {
    out = '"$HOME"/';
    rest = rest.slice(2);
  }
  for (const ch of rest) {
    if (/[A-Za-z0-9*?[\]/._+,=@%:!-]/.test(ch)) out += ch;
    else if (ch === '\n') out += `'\n'`;
    else out += `\\${ch}`;
  }
  return out;
}
