import {
  OperationNodeTransformer,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type PrimitiveValueListNode,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  type ValueNode,
} from 'kysely';
import { storableJsonText, storableText } from './storable-text.js';

/**
 * The one place text from outside enters the database: every value bound to a query (inserts,
 * updates, `where`, raw `sql` templates) is made storable before it is sent, on both backends.
 * Installed in `createDatabase`, so no store has to remember it. A value that is already
 * storable is passed through unchanged (the same string), so hashes taken before storing hold.
 */
export class StorableTextPlugin implements KyselyPlugin {
  readonly #transformer = new StorableValues();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    // almost every query binds only storable values: finding that out is a walk, copying the tree is not needed
    return hasUnstorable(args.node) ? this.#transformer.transformNode(args.node) : args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

class StorableValues extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    const value = storableValue(node.value);
    return value === node.value ? node : { ...node, value };
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    const values = node.values.map(storableValue);
    return values.every((v, i) => v === node.values[i]) ? node : { ...node, values };
  }
}

/** Whether any value bound anywhere in this query tree would be changed by `storableValue`. */
function hasUnstorable(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasUnstorable);
  if (node === null || typeof node !== 'object') return false;
  const n = node as { readonly kind?: unknown; readonly value?: unknown; readonly values?: readonly unknown[] };
  if (n.kind === 'ValueNode') return storableValue(n.value) !== n.value;
  if (n.kind === 'PrimitiveValueListNode') return (n.values ?? []).some((v) => storableValue(v) !== v);
  for (const key in n) if (hasUnstorable((n as Record<string, unknown>)[key])) return true;
  return false;
}

/** A bound parameter as it may be stored: strings fixed, arrays (PostgreSQL arrays) and plain objects (sent as JSON) walked. */
function storableValue(value: unknown): unknown {
  if (typeof value === 'string') return storableJsonText(storableText(value));
  if (Array.isArray(value)) {
    const items = value.map(storableValue);
    return items.every((v, i) => v === value[i]) ? value : items;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value).map(([k, v]) => [storableText(k), storableValue(v)] as const);
    return entries.every(([k, v]) => v === value[k]) ? value : Object.fromEntries(entries);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
