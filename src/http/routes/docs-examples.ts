/**
 * Example request and response bodies for /docs, made from the OpenAPI document itself: a field's own `example`
 * when the schema has one, else a plain value of its type. So the examples cannot drift from the schemas.
 */
export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  example?: unknown;
  examples?: unknown[];
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  minimum?: number;
  pattern?: string;
};

/** Values for fields whose schema has no example (by field name first, then by type). */
const BY_NAME: Record<string, unknown> = {
  id: 'p_01JDX4M2Q8ZK3V7W9YB5N6T1RC',
  phone: '13800138000',
  phoneTail: '8000',
  trackingNumber: 'SF1234567890',
  carrier: 'SF',
  name: '王师傅',
  code: '482913',
  presenceCode: '7657',
  token: 'lgc_…',
  unit: 'LSN-0001',
  compartment: 17,
  no: 17,
  requestId: '4f1c2d9e-…',
  room: '3-502',
  zh: '里厍二村北区',
  en: 'Lishe Ercun North',
  reason: null,
};

export function exampleOf(schema: JsonSchema | undefined, components: Record<string, JsonSchema>, name = '', depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if (schema.$ref) return exampleOf(components[schema.$ref.split('/').pop() ?? ''], components, name, depth + 1);
  if (schema.example !== undefined) return schema.example;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  const alt = schema.oneOf ?? schema.anyOf;
  if (alt?.length) return exampleOf(alt.find((s) => s.type !== 'null') ?? alt[0], components, name, depth + 1);
  if (schema.allOf?.length) {
    return Object.assign({}, ...schema.allOf.map((s) => exampleOf(s, components, name, depth + 1) as object));
  }
  if (name in BY_NAME) return BY_NAME[name];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (schema.default !== undefined && type !== 'object') return schema.default;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(schema.properties ?? {})) out[k] = exampleOf(s, components, k, depth + 1);
      return out;
    }
    case 'array':
      return [exampleOf(schema.items, components, name, depth + 1)];
    case 'string':
      return schema.format === 'date-time' ? '2026-11-26T18:41:00.000+08:00' : schema.format === 'uri' ? 'https://example.com/hook' : 'string';
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return name in BY_NAME ? BY_NAME[name] : null;
  }
}
