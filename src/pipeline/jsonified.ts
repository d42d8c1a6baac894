import type { Json } from '../thread/events.js';

// What the log holds of a value a step returned: `toJson` (src/agent/tool.ts) records it as
// JSON.stringify would, and the steps after it read that back. These types follow toJson's rules.

type Flatten<T> = { [K in keyof T]: T[K] } & {};

/** What JSON.stringify leaves out of an object (and toJson makes null in an array or at the top). */
type Dropped = undefined | void | symbol | ((...args: never[]) => unknown);

/** Objects recorded as `{}`: they hold their data in no own enumerable key. */
type Opaque = ReadonlyMap<unknown, unknown> | ReadonlySet<unknown> | WeakMap<object, unknown> | WeakSet<object> | RegExp | Error | Promise<unknown>;

/** What toJson records of `T` as a member; `undefined` where it leaves the member out. */
type Recorded<T> = 0 extends 1 & T
  ? Json
  : T extends string | number | boolean | null
    ? T
    : T extends bigint
      ? string
      : T extends Dropped
        ? undefined
        : T extends { toJSON(...args: never[]): infer R }
          ? Recorded<R>
          : T extends Number
            ? number
            : T extends String
              ? string
              : T extends Boolean
                ? boolean
                : T extends BigInt
                  ? string
                  : T extends Opaque
                    ? {}
                    : T extends readonly unknown[]
                      ? { [K in keyof T]: InArray<Recorded<T[K]>> }
                      : T extends object
                        ? RecordedObject<T>
                        : Json;

/** An array item toJson leaves out is null there. */
type InArray<T> = [T] extends [undefined] ? null : undefined extends T ? Exclude<T, undefined> | null : T;

// String keys only (toJson walks `Object.keys`). Which members stay is read from their types
// alone, not from what they record (which would make a recursive type refer to itself).
/** Members always recorded. */
type Kept<T> = { [K in keyof T as K extends symbol ? never : [Extract<T[K], Dropped>] extends [never] ? K : never]: Recorded<T[K]> };
/** Members recorded or left out (optional, or possibly undefined): optional. Members always left out are gone. */
type MaybeKept<T> = {
  [K in keyof T as K extends symbol ? never : [Extract<T[K], Dropped>] extends [never] ? never : [T[K]] extends [Dropped] ? never : K]?: Recorded<Exclude<T[K], Dropped>>;
};
type RecordedObject<T> = Flatten<Kept<T> & MaybeKept<T>>;

/**
 * The JSON the log holds of a value of type `T` that a step returned, and so what the steps after
 * it see (a code step without an `output` schema): a Date is its ISO string (any `toJSON` is
 * applied), a BigInt its decimal string, a Map, Set, RegExp or Error `{}`; functions, symbols and
 * undefined members are left out (a class instance keeps its fields, not its methods), and are
 * null in an array or as the whole value. A value that is JSON already keeps its type.
 */
export type Jsonified<T> = 0 extends 1 & T ? Json : [T] extends [Json] ? T : InArray<Recorded<T>>;
