/**
 * @module fuzz/json-mutations
 * JSON values near a valid message: a valid one with a few fields dropped, retyped, emptied, lengthened or added.
 * Random JSON alone almost never gets past a validator's first check; values one edit away from valid reach every
 * branch. Shared by the targets that fuzz JSON messages (broker, volunteer socket, local channel, native messages).
 */
import fc from 'fast-check';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Values a field is often wrongly given: wrong types, empty, edge numbers, very long strings. */
export const oddFieldValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(null, true, false, 0, -0, -1, 1, 0.5, 2 ** 53, -(2 ** 53), 2 ** 32, 65_535, 65_536, 1e308, '', ' ', '0', 'v=0', [], {}),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
  fc.integer({ min: 1, max: 3_000 }).map((length) => 'x'.repeat(length)),
);

type Edit =
  | { kind: 'drop'; at: number }
  | { kind: 'set'; at: number; value: JsonValue }
  | { kind: 'add'; at: number; key: string; value: JsonValue }
  | { kind: 'replace-whole'; value: JsonValue };

interface Slot {
  parent: JsonObject | JsonValue[];
  key: string | number;
}

/** Every member of every object and array inside `root`, outermost first. */
function slotsOf(root: JsonValue): Slot[] {
  const slots: Slot[] = [];
  const visit = (value: JsonValue): void => {
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        slots.push({ parent: value, key: index });
        visit(item);
      });
    } else if (isJsonObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        slots.push({ parent: value, key });
        visit(item);
      }
    }
  };
  visit(root);
  return slots;
}

function containersOf(root: JsonValue): JsonObject[] {
  const containers: JsonObject[] = isJsonObject(root) ? [root] : [];
  for (const slot of slotsOf(root)) {
    const value = Array.isArray(slot.parent) ? slot.parent[slot.key as number] : slot.parent[slot.key as string];
    if (isJsonObject(value)) containers.push(value);
  }
  return containers;
}

function applyEdit(root: JsonValue, edit: Edit): JsonValue {
  // Copies: fast-check hands out one shared instance of each constant ({} and []), which edits must never change.
  if (edit.kind === 'replace-whole') return structuredClone(edit.value);
  if (edit.kind === 'add') {
    const containers = containersOf(root);
    const container = containers[edit.at % Math.max(1, containers.length)];
    if (container) setOwn(container, edit.key, structuredClone(edit.value));
    return root;
  }
  const slots = slotsOf(root);
  const slot = slots[edit.at % Math.max(1, slots.length)];
  if (!slot) return root;
  if (Array.isArray(slot.parent)) {
    if (edit.kind === 'drop') slot.parent.splice(slot.key as number, 1);
    else slot.parent[slot.key as number] = structuredClone(edit.value);
  } else if (edit.kind === 'drop') {
    delete slot.parent[slot.key as string];
  } else {
    setOwn(slot.parent, slot.key as string, structuredClone(edit.value));
  }
  return root;
}

/** Sets an own data property, as JSON.parse would: plain assignment to "__proto__" would change the prototype instead. */
function setOwn(target: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * `valid` messages with 0 to `maxEdits` edits. `fieldValue` draws the values edits put in (give it the message's own
 * vocabulary, e.g. its "type" strings, so edits also turn one valid message into another); `fieldName` the keys added.
 */
export function nearValidJson(
  valid: fc.Arbitrary<JsonObject>,
  options: { fieldValue?: fc.Arbitrary<JsonValue>; fieldName?: fc.Arbitrary<string>; maxEdits?: number } = {},
): fc.Arbitrary<JsonValue> {
  const fieldValue = options.fieldValue ?? oddFieldValue;
  const fieldName = options.fieldName ?? fc.oneof(fc.constantFrom('type', '__proto__', 'constructor', 'toString'), fc.string({ maxLength: 8 }));
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }) },
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fieldValue }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: fieldName, value: fieldValue }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('replace-whole' as const), value: fieldValue }) },
  );
  return fc
    .tuple(valid, fc.array(edit, { maxLength: options.maxEdits ?? 3 }))
    .map(([message, edits]) => edits.reduce<JsonValue>((value, each) => applyEdit(value, each), structuredClone(message)));
}
