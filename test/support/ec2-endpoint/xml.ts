/** Tiny helpers for the EC2 Query protocol: form parameters in, XML out. */

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type XmlValue = string | number | boolean | Date | null | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

function escape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Serialises a value; arrays become `<item>` lists (EC2's `…Set` convention). */
export function toXml(value: XmlValue): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => `<item>${toXml(v)}</item>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('');
  }
  return escape(String(value));
}

export function responseXml(action: string, requestId: string, body: XmlNode): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}">` +
    `<requestId>${requestId}</requestId>${toXml(body)}</${action}Response>`
  );
}

export function errorXml(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escape(code)}</Code>` +
    `<Message>${escape(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
  );
}

/** Nested view of dotted form keys: `Filter.1.Value.2=x` → { Filter: { 1: { Value: { 2: 'x' } } } }. */
export interface Params {
  [key: string]: string | Params;
}

export function nest(flat: Record<string, string>): Params {
  const root: Params = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (typeof next === 'object') node = next;
      else node = node[part] = {};
    }
    node[parts[parts.length - 1]!] = value;
  }
  return root;
}

/** The numbered members of a list parameter, in order. */
export function list(value: string | Params | undefined): Array<string | Params> {
  if (value === undefined || typeof value === 'string') return value === undefined ? [] : [value];
  return Object.keys(value)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => value[k]!);
}

export function str(value: string | Params | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function sub(value: string | Params | undefined): Params {
  return typeof value === 'object' ? value : {};
}
