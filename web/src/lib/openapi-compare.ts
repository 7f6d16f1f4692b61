// Compares what a zod schema accepts with what the server's OpenAPI document says it
// answers (used by schemas.openapi.test.ts). Both sides are JSON Schema: the document's
// component schemas, and zod 4's `z.toJSONSchema(schema, { io: "input" })`. Each is
// reduced to a Shape (type, nullable, enum, items, properties, record values), and the
// two Shapes are compared; every disagreement is one line, "where: what differs", where
// "where" starts at the document's component ("TokenView.status", "Owner.keys").
import { z } from "zod";

type Json = Record<string, unknown>;

const shapeTypes = ["string", "number", "integer", "boolean", "array", "object", "any"] as const;
export type ShapeType = (typeof shapeTypes)[number];

export interface Prop {
  shape: Shape;
  required: boolean;
}

export interface Shape {
  /** The document's component this came from ($ref), if any. */
  name?: string;
  type: ShapeType;
  nullable: boolean;
  enum?: string[];
  items?: Shape;
  properties?: Record<string, Prop>;
  /** A record's values (`additionalProperties`). */
  values?: Shape;
}

const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The value at a local JSON pointer ("#/components/schemas/Me") of `root`. */
function resolve(root: Json, ref: string): Json {
  if (!ref.startsWith("#/")) throw new Error(`only local $refs are followed: ${ref}`);
  let at: unknown = root;
  for (const part of ref.slice(2).split("/")) {
    at = isJson(at) ? at[part.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined;
  }
  if (!isJson(at)) throw new Error(`$ref to nothing: ${ref}`);
  return at;
}

const nullOnly = (s: unknown) => isJson(s) && s.type === "null" && Object.keys(s).length === 1;

/** A JSON Schema (OpenAPI 3.1 or zod's draft 2020-12) as a Shape; $refs resolve against `root`. */
export function shapeOf(schema: unknown, root: Json): Shape {
  if (!isJson(schema)) throw new Error(`not a schema: ${JSON.stringify(schema)}`);
  if (typeof schema.$ref === "string") {
    return { ...shapeOf(resolve(root, schema.$ref), root), name: schema.$ref.slice(schema.$ref.lastIndexOf("/") + 1) };
  }
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(alternatives)) {
    // `T | null` is the only union either side writes.
    const others = alternatives.filter((a) => !nullOnly(a));
    if (others.length !== 1 || others.length === alternatives.length) {
      throw new Error(`unions other than "T or null" are not compared: ${JSON.stringify(schema)}`);
    }
    return { ...shapeOf(others[0], root), nullable: true };
  }
  if (Array.isArray(schema.allOf)) {
    const parts = schema.allOf.map((s) => shapeOf(s, root));
    const properties: Record<string, Prop> = {};
    for (const p of parts) {
      if (p.type !== "object") throw new Error(`allOf of a non-object: ${JSON.stringify(schema)}`);
      Object.assign(properties, p.properties);
    }
    return { type: "object", nullable: false, properties };
  }
  const types: unknown[] = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((t) => t !== undefined);
  const rest = types.filter((t) => t !== "null").map(String);
  const values: unknown[] | undefined = Array.isArray(schema.enum) ? schema.enum : "const" in schema ? [schema.const] : undefined;
  const shape: Shape = { type: "any", nullable: types.includes("null") || (values?.includes(null) ?? false) };
  if (values) shape.enum = values.filter((v) => v !== null).map(String).sort();
  if (rest.length > 1) throw new Error(`several types are not compared: ${JSON.stringify(schema)}`);
  const type = rest[0] ?? (isJson(schema.properties) ? "object" : values ? "string" : "any");
  if (!shapeTypes.includes(type as ShapeType)) throw new Error(`unknown type ${type}`);
  shape.type = type as ShapeType;
  if (shape.type === "array") shape.items = schema.items === undefined ? { type: "any", nullable: true } : shapeOf(schema.items, root);
  if (shape.type === "object") {
    const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
    shape.properties = {};
    for (const [k, v] of Object.entries(isJson(schema.properties) ? schema.properties : {})) {
      shape.properties[k] = { shape: shapeOf(v, root), required: required.has(k) };
    }
    if (isJson(schema.additionalProperties)) shape.values = shapeOf(schema.additionalProperties, root);
  }
  return shape;
}

/** What a zod schema accepts, as a Shape. */
export function zodShape(schema: z.ZodType): Shape {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json;
  return shapeOf(json, json);
}

const list = (v: string[] | undefined) => `[${(v ?? []).join(", ")}]`;

/**
 * Where `client` (a zod Shape) disagrees with `server` (the OpenAPI Shape): types
 * (integer is not number), enums, nullability, and for properties whether they are
 * required. A property the document leaves optional and nullable (a Rust Option: written
 * as null, or left out) may be required-and-nullable or optional in zod; properties zod
 * leaves out are fine unless the document requires them.
 */
export function compareShapes(server: Shape, client: Shape, at = "$", checkNull = true): string[] {
  // An object from a component starts its own path; an enum such as Step keeps the property's.
  const path = server.type === "object" && server.name ? server.name : at;
  const out: string[] = [];
  if (client.type === "any") return out;
  if (server.type !== client.type) return [`${path}: ${server.type} in OpenAPI, ${client.type} in zod`];
  if (checkNull && server.nullable !== client.nullable) {
    out.push(`${path}: ${server.nullable ? "nullable" : "never null"} in OpenAPI, ${client.nullable ? "nullable" : "never null"} in zod`);
  }
  if (server.enum || client.enum) {
    if (list(server.enum) !== list(client.enum)) {
      out.push(`${path}: enum ${server.enum ? list(server.enum) : "(any string)"} in OpenAPI, ${client.enum ? list(client.enum) : "(any string)"} in zod`);
    }
  }
  if (server.items && client.items) out.push(...compareShapes(server.items, client.items, `${path}[]`));
  if (server.values || client.values) {
    if (!server.values || !client.values) out.push(`${path}: ${server.values ? "a record" : "not a record"} in OpenAPI, ${client.values ? "a record" : "not a record"} in zod`);
    else out.push(...compareShapes(server.values, client.values, `${path}{}`));
  }
  const sp = server.properties ?? {};
  const cp = client.properties ?? {};
  for (const key of [...new Set([...Object.keys(sp), ...Object.keys(cp)])].sort()) {
    out.push(...compareProp(sp[key], cp[key], `${path}.${key}`));
  }
  return out;
}

function compareProp(s: Prop | undefined, c: Prop | undefined, path: string): string[] {
  if (!s) return c ? [`${path}: in zod, not in OpenAPI`] : [];
  if (!c) return s.required ? [`${path}: required in OpenAPI, missing in zod`] : [];
  const out: string[] = [];
  if (s.required) {
    if (!c.required) out.push(`${path}: required in OpenAPI, optional in zod`);
    return [...out, ...compareShapes(s.shape, c.shape, path)];
  }
  if (!s.shape.nullable) {
    if (c.required) out.push(`${path}: optional in OpenAPI, required in zod`);
    return [...out, ...compareShapes(s.shape, c.shape, path)];
  }
  // Optional and nullable: zod must take it missing, or null, or both.
  if (c.required && !c.shape.nullable) out.push(`${path}: may be null or missing in OpenAPI, zod requires a value`);
  return [...out, ...compareShapes(s.shape, c.shape, path, false)];
}
