import type { z } from 'zod';
import { UnknownEventTypeError, ValidationError } from '../errors.js';
import { parseEnvelope, toIssues, type EventEnvelope } from './envelope.js';

/** Maps event types to zod schemas of their `data`. */
export interface EventTypeRegistryOptions {
  /** When true, events of unregistered types are rejected. @default false */
  strict?: boolean;
  /** Cap on one serialized event in bytes. @default 262144 */
  maxEventBytes?: number;
}

/**
 * The event type registry: `type → zod schema of data`. Sagas register the events they handle;
 * every way in (bus, HTTP, CLI, replay) validates through {@link EventTypeRegistry.validate}.
 *
 * @example
 * const registry = new EventTypeRegistry({ strict: true });
 * registry.register('task.created', z.object({ taskId: z.string() }));
 * registry.validate(event); // throws ValidationError naming the bad field
 */
export class EventTypeRegistry {
  readonly strict: boolean;
  readonly maxEventBytes: number | undefined;
  private readonly schemas = new Map<string, z.ZodType>();

  constructor(options: EventTypeRegistryOptions = {}) {
    this.strict = options.strict ?? false;
    this.maxEventBytes = options.maxEventBytes;
  }

  /** Registers a type. Registering the same type twice with a different schema is an error. */
  register(type: string, schema: z.ZodType): this {
    const existing = this.schemas.get(type);
    if (existing && existing !== schema) {
      throw new ValidationError('event type registration', [{ path: type, message: 'registered twice with different schemas' }]);
    }
    this.schemas.set(type, schema);
    return this;
  }

  /** Registers every entry of a `{ type: schema }` map. */
  registerAll(map: Record<string, z.ZodType>): this {
    for (const [type, schema] of Object.entries(map)) this.register(type, schema);
    return this;
  }

  has(type: string): boolean {
    return this.schemas.has(type);
  }

  /** Registered types, sorted. */
  types(): string[] {
    return [...this.schemas.keys()].sort();
  }

  schemaOf(type: string): z.ZodType | undefined {
    return this.schemas.get(type);
  }

  /**
   * Validates envelope shape, size and (when the type is registered) the data schema.
   * Returns the envelope with `data` as parsed by the schema.
   */
  validate(value: unknown): EventEnvelope {
    const envelope = parseEnvelope(value, this.maxEventBytes === undefined ? {} : { maxBytes: this.maxEventBytes });
    return this.validateData(envelope);
  }

  /** Validates `data` of an already well-formed envelope against its type's schema. */
  validateData(envelope: EventEnvelope): EventEnvelope {
    const schema = this.schemas.get(envelope.type);
    if (!schema) {
      if (this.strict) throw new UnknownEventTypeError(envelope.type, this.types());
      return envelope;
    }
    const parsed = schema.safeParse(envelope.data);
    if (!parsed.success) throw new ValidationError(`data of ${envelope.type}`, toIssues(parsed.error, 'data'));
    return { ...envelope, data: parsed.data as Record<string, unknown> };
  }
}
